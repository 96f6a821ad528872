#!/usr/bin/env bash
# Installs the nfpm release binary into BIN_DIR (/usr/local/bin) after
# checking it against the release's checksums.
#
#   install-nfpm.sh VERSION [amd64|arm64|x86_64|aarch64]
set -euo pipefail

version=${1:?usage: install-nfpm.sh VERSION [ARCH]}
arch=${2:-$(uname -m)}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "install-nfpm: version ${version@Q}: accepted is N.N.N" >&2; exit 1; }
case "$arch" in
amd64 | x86_64) arch=x86_64 ;;
arm64 | aarch64) arch=arm64 ;;
*) echo "install-nfpm: architecture ${arch@Q}: accepted are amd64 and arm64" >&2; exit 1 ;;
esac
base=${NFPM_RELEASES_URL:-https://github.com/goreleaser/nfpm/releases/download}/v$version
tarball=nfpm_${version}_Linux_${arch}.tar.gz
bin=${BIN_DIR:-/usr/local/bin}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/$tarball" "$base/$tarball"
curl -fsSL --retry 3 -o "$tmp/checksums.txt" "$base/checksums.txt"
grep -E "^[0-9a-f]{64}  $tarball\$" "$tmp/checksums.txt" >"$tmp/want" || { echo "install-nfpm: checksums.txt has no $tarball" >&2; exit 1; }
(cd "$tmp" && sha256sum -c want >&2)
tar -xzf "$tmp/$tarball" -C "$tmp" nfpm
install -m 0755 "$tmp/nfpm" "$bin/nfpm"
"$bin/nfpm" --version >&2
