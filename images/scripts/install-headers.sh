#!/usr/bin/env bash
# Installs the headers of one kernel in its distribution's build image,
# trying one source after another, and prints the headers directory.
#
#   RPM (fedora, centos, amazonlinux): dnf repositories -> explicit kernel
#   URLs -> Koji (fedora) or the CentOS Stream Koji and CBS (centos), or the
#   kernel-livepatch package (amazonlinux).
#   DEB (debian, ubuntu): apt -> the snapshot archive (snapshot.debian.org,
#   or Launchpad's archive of every published Ubuntu build).
#
# Every source is reached through a command on PATH (dnf, koji, apt-get,
# dpkg-deb, curl) or a base URL from the environment, so tests can point them
# at fakes. Each attempt is logged to stderr; a failure lists every source
# tried.
#
# Environment: KVERSION, DISTRIBUTION, DISTRO_VERSION, ARCH (x86_64|aarch64).
# Optional: KERNEL_URLS (space-separated base URLs of kernel-devel RPMs),
# KOJI_FEDORA_HUB, KOJI_STREAM_HUB, KOJI_CBS_HUB (and ..._TOPURL),
# SNAPSHOT_URL, LAUNCHPAD_API, SYSROOT (where headers land, for tests),
# HEADERS_WORKDIR.
# shellcheck disable=SC2317 # the from_* sources are called through attempt
set -euo pipefail

log() { printf 'install-headers: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

: "${KVERSION:?KVERSION is required}" "${DISTRIBUTION:?DISTRIBUTION is required}" \
	"${DISTRO_VERSION:?DISTRO_VERSION is required}" "${ARCH:?ARCH is required}"

# These values come from workflow inputs: check them again, here, before
# they reach a command line or a URL.
[[ ${#KVERSION} -le 128 && $KVERSION =~ ^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$ ]] ||
	die "KVERSION ${KVERSION@Q} is not a kernel release"
[[ $DISTRO_VERSION =~ ^[a-z0-9][a-z0-9.]{0,15}$ ]] || die "DISTRO_VERSION ${DISTRO_VERSION@Q} is not a distribution version"
case "$ARCH" in
x86_64) debarch=amd64 ;;
aarch64) debarch=arm64 ;;
*) die "ARCH ${ARCH@Q}: accepted are x86_64 and aarch64" ;;
esac

SYSROOT=${SYSROOT:-}
work=${HEADERS_WORKDIR:-$(mktemp -d)}
mkdir -p "$work"

case "$DISTRIBUTION" in
ubuntu | debian) headers="$SYSROOT/usr/src/linux-headers-$KVERSION" ;;
fedora | centos | amazonlinux) headers="$SYSROOT/usr/src/kernels/$KVERSION" ;;
*) die "DISTRIBUTION ${DISTRIBUTION@Q}: accepted are ubuntu, debian, fedora, centos, amazonlinux" ;;
esac

tried=()

# attempt NAME COMMAND...: one source. It counts when the headers are there
# afterwards, whatever the command said.
attempt() {
	local name=$1
	shift
	tried+=("$name")
	log "trying $name"
	# Package managers talk on stdout; stdout is for the headers directory.
	if "$@" >&2 && [[ -f $headers/Makefile ]]; then
		log "headers of $KVERSION from $name: $headers"
		printf '%s\n' "$headers"
		exit 0
	fi
	log "$name: no headers of $KVERSION"
}

fetch() { curl -fsSL --retry 2 --connect-timeout 20 "$@"; }

# --- RPM ---

rpm="kernel-devel-$KVERSION"

from_dnf() { dnf install -y "$@"; }

from_url() {
	local base=$1
	fetch -o "$work/$rpm.rpm" "${base%/}/$rpm.rpm" && dnf install -y "$work/$rpm.rpm"
}

write_koji_config() {
	koji_config="$work/koji.conf"
	cat >"$koji_config" <<KOJI
[fedora]
server = ${KOJI_FEDORA_HUB:-https://koji.fedoraproject.org/kojihub}
weburl = https://koji.fedoraproject.org/koji
topurl = ${KOJI_FEDORA_TOPURL:-https://kojipkgs.fedoraproject.org}

[stream]
server = ${KOJI_STREAM_HUB:-https://kojihub.stream.centos.org/kojihub}
weburl = https://kojihub.stream.centos.org/koji
topurl = ${KOJI_STREAM_TOPURL:-https://kojihub.stream.centos.org/kojifiles}

[cbs]
server = ${KOJI_CBS_HUB:-https://cbs.centos.org/kojihub}
weburl = https://cbs.centos.org/koji
topurl = ${KOJI_CBS_TOPURL:-https://cbs.centos.org/kojifiles}
KOJI
}

from_koji() {
	local profile=$1
	(cd "$work" && koji --config "$koji_config" --profile "$profile" download-build --rpm "$rpm") &&
		dnf install -y "$work/$rpm.rpm"
}

rpm_chain() {
	local urls=${KERNEL_URLS-}
	local n=${DISTRO_VERSION#stream}
	if [[ -z ${KERNEL_URLS+set} ]]; then
		case "$DISTRIBUTION" in
		fedora)
			urls="https://dl.fedoraproject.org/pub/fedora/linux/updates/$n/Everything/$ARCH/Packages/k
https://dl.fedoraproject.org/pub/fedora/linux/releases/$n/Everything/$ARCH/os/Packages/k
https://dl.fedoraproject.org/pub/archive/fedora/linux/updates/$n/Everything/$ARCH/Packages/k"
			;;
		centos) urls="https://mirror.stream.centos.org/$n-stream/AppStream/$ARCH/os/Packages" ;;
		esac
	fi
	# kernel-devel-<V-R.A> is its NVRA; the release already names the arch.
	attempt "dnf $rpm" from_dnf "$rpm"
	local base
	for base in $urls; do
		attempt "url $base" from_url "$base"
	done
	write_koji_config
	case "$DISTRIBUTION" in
	fedora) attempt "koji fedora" from_koji fedora ;;
	centos)
		attempt "koji stream" from_koji stream
		attempt "koji cbs" from_koji cbs
		;;
	amazonlinux)
		# A kernel with livepatches is in the kernel-livepatch repository.
		local livepatch="kernel-livepatch-${KVERSION%%.amzn*}"
		attempt "dnf $livepatch" from_dnf --enablerepo=kernel-livepatch "$livepatch"
		;;
	esac
}

# --- DEB ---

deb="linux-headers-$KVERSION"

from_apt() { apt-get update && apt-get install -y --no-install-recommends "$deb"; }

# companions FILE: the linux-* header and kbuild packages a headers package
# depends on, which an old release's archive may no longer have either.
companions() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -E 's/^ *([^ (|]+).*/\1/' |
		grep -E '^linux-([a-z0-9.+-]*headers|kbuild|compiler)' || true
}

# snapshot_get NAME VERSION: one binary package of a version from
# snapshot.debian.org's machine-readable API.
snapshot_get() {
	local name=$1 version=$2 files hash file
	files=$(fetch "$snapshot/mr/binary/$name/$version/binfiles?fileinfo=1") || return 1
	hash=$(jq -r --arg a "$debarch" 'first(.result[] | select(.architecture == $a or .architecture == "all") | .hash) // empty' <<<"$files")
	[[ -n $hash ]] || return 1
	file=$(jq -r --arg h "$hash" '.fileinfo[$h][0].name' <<<"$files")
	[[ $file =~ ^[A-Za-z0-9._+~-]+\.deb$ ]] || return 1
	fetch -o "$work/debs/$file" "$snapshot/file/$hash" && printf '%s\n' "$work/debs/$file"
}

from_snapshot() {
	snapshot=${SNAPSHOT_URL:-https://snapshot.debian.org}
	local versions version main dep
	versions=$(fetch "$snapshot/mr/binary/$deb/") || return 1
	version=$(jq -r 'first(.result[].binary_version) // empty' <<<"$versions")
	[[ -n $version ]] || return 1
	log "snapshot: $deb $version"
	rm -rf "$work/debs" && mkdir -p "$work/debs"
	main=$(snapshot_get "$deb" "$version") || return 1
	for dep in $(companions "$main"); do
		snapshot_get "$dep" "$version" >/dev/null || log "snapshot: no $dep $version, leaving it to apt"
	done
	apt-get install -y --no-install-recommends "$work"/debs/*.deb
}

# launchpad_get NAME [VERSION]: one binary package from Launchpad, which
# keeps every build Ubuntu published.
launchpad_get() {
	local name=$1 version=${2-} pubs self url
	pubs=$(fetch "$launchpad/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=$name&exact_match=true") || return 1
	self=$(jq -r --arg a "/$debarch" --arg v "$version" \
		'first(.entries[] | select((.distro_arch_series_link | endswith($a)) and ($v == "" or .binary_package_version == $v)) | .self_link) // empty' <<<"$pubs")
	[[ -n $self ]] || return 1
	[[ -n $version ]] || log "launchpad: $name $(jq -r --arg s "$self" 'first(.entries[] | select(.self_link == $s) | .binary_package_version)' <<<"$pubs")"
	for url in $(fetch "$self?ws.op=binaryFileUrls" | jq -r '.[]'); do
		[[ ${url##*/} =~ ^[A-Za-z0-9._+~%-]+\.deb$ ]] || return 1
		fetch -o "$work/debs/${url##*/}" "$url" && printf '%s\n' "$work/debs/${url##*/}"
	done
}

from_launchpad() {
	launchpad=${LAUNCHPAD_API:-https://api.launchpad.net/1.0}
	local main version dep
	rm -rf "$work/debs" && mkdir -p "$work/debs"
	main=$(launchpad_get "$deb") || return 1
	main=${main%%$'\n'*}
	[[ -n $main ]] || return 1
	version=$(dpkg-deb -f "$main" Version)
	for dep in $(companions "$main"); do
		launchpad_get "$dep" "$version" >/dev/null || log "launchpad: no $dep $version, leaving it to apt"
	done
	apt-get install -y --no-install-recommends "$work"/debs/*.deb
}

deb_chain() {
	attempt "apt $deb" from_apt
	case "$DISTRIBUTION" in
	debian) attempt "snapshot ${SNAPSHOT_URL:-https://snapshot.debian.org}" from_snapshot ;;
	ubuntu) attempt "launchpad ${LAUNCHPAD_API:-https://api.launchpad.net/1.0}" from_launchpad ;;
	esac
}

case "$DISTRIBUTION" in
ubuntu | debian) deb_chain ;;
*) rpm_chain ;;
esac

log "no headers of $KVERSION for $DISTRIBUTION $DISTRO_VERSION $ARCH; tried:"
for t in "${tried[@]}"; do
	log "  - $t"
done
exit 1
