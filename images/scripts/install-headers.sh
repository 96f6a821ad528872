#!/usr/bin/env bash
# Installs the headers of one kernel in its distribution's build image,
# trying one source after another, and prints the headers directory.
#
#   RPM (fedora, centos, amazonlinux): dnf repositories -> explicit kernel
#   URLs -> Koji (fedora) or the CentOS Stream Koji and CBS (centos), or the
#   latest Amazon Linux release's repositories and then the kernel-livepatch
#   repository (amazonlinux).
#   DEB (debian, ubuntu): apt -> the snapshot archive (snapshot.debian.org,
#   or Launchpad's archive of every published Ubuntu build).
#
# Every source is reached through a command on PATH (dnf, koji, apt-get,
# dpkg-deb, curl) or a base URL from the environment, so tests can point them
# at fakes. Only https URLs are fetched. Each attempt is logged to stderr; a
# failure lists every source tried.
#
# Environment: KVERSION, DISTRIBUTION, DISTRO_VERSION, ARCH (x86_64|aarch64).
# Optional: KERNEL_URLS (whitespace-separated base URLs of kernel-devel RPMs),
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

# attempt NAME COMMAND...: one source. It counts when the command succeeds
# and the headers' Makefile is there afterwards.
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

# fetch URL [FILE]: GET an https URL to stdout or FILE. Remote answers name
# some of the URLs: nothing but https is followed, even on a redirect, and
# -- keeps a URL from being read as an option.
fetch() {
	local url=$1 out=()
	(($# < 2)) || out=(-o "$2")
	curl -fsSL --proto '=https' --proto-redir '=https' --retry 2 --connect-timeout 20 "${out[@]}" -- "$url"
}

# A Debian package name, and a package version as it may appear in a URL.
pkgname_re='^[a-z0-9][a-z0-9.+-]+$'
pkgversion_re='^[0-9][A-Za-z0-9.+~:-]*$'

# --- RPM ---

rpm="kernel-devel-$KVERSION"

from_dnf() { dnf install -y "$@"; }

from_url() {
	local base=$1
	fetch "${base%/}/$rpm.rpm" "$work/$rpm.rpm" && dnf install -y "$work/$rpm.rpm"
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
	# Split on whitespace only: no globbing of what the environment says.
	local bases=() base
	read -r -d '' -a bases <<<"$urls" || true
	# kernel-devel-<V-R.A> is its NVRA; the release already names the arch.
	attempt "dnf $rpm" from_dnf "$rpm"
	for base in "${bases[@]}"; do
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
		# The image's Amazon Linux release can be older than the kernel's:
		# the latest release's repositories have newer kernels.
		attempt "dnf --releasever=latest $rpm" from_dnf --releasever=latest "$rpm"
		# The kernel-livepatch package holds a kpatch module, not headers,
		# so ask for kernel-devel with that repository enabled. Unverified:
		# whether the livepatch repository carries kernel-devel has not been
		# checked in a real AL2023 container.
		attempt "dnf --enablerepo=kernel-livepatch $rpm" from_dnf --enablerepo=kernel-livepatch "$rpm"
		;;
	esac
}

# --- DEB ---

deb="linux-headers-$KVERSION"

from_apt() { apt-get update && apt-get install -y --no-install-recommends "$deb"; }

# companions FILE: the linux-* header and kbuild packages a headers package
# depends on, which an old release's archive may no longer have either, one
# a line.
companions() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -E 's/^ *([^ (|]+).*/\1/' |
		grep -E '^linux-([a-z0-9.+-]*headers|kbuild|compiler)' || true
}

# companion_list FILE: companions into the array deps, each checked to be a
# package name before it reaches a URL.
companion_list() {
	local dep
	deps=()
	while IFS= read -r dep; do
		if [[ $dep =~ $pkgname_re ]]; then
			deps+=("$dep")
		else
			log "ignoring dependency ${dep@Q}: not a package name"
		fi
	done < <(companions "$1")
}

# snapshot_get NAME VERSION: one binary package of a version from
# snapshot.debian.org's machine-readable API.
snapshot_get() {
	local name=$1 version=$2 files hash file
	files=$(fetch "$snapshot/mr/binary/$name/$version/binfiles?fileinfo=1") || return 1
	hash=$(jq -r --arg a "$debarch" 'first(.result[] | select(.architecture == $a or .architecture == "all") | .hash) // empty' <<<"$files")
	[[ -n $hash ]] || return 1
	[[ $hash =~ ^[0-9a-f]{40}$ ]] || {
		log "snapshot: refusing hash ${hash@Q} of $name: not a sha1 in hex"
		return 1
	}
	file=$(jq -r --arg h "$hash" '.fileinfo[$h][0].name' <<<"$files")
	[[ $file =~ ^[A-Za-z0-9._+~-]+\.deb$ ]] || return 1
	fetch "$snapshot/file/$hash" "$work/debs/$file" && printf '%s\n' "$work/debs/$file"
}

from_snapshot() {
	snapshot=${SNAPSHOT_URL:-https://snapshot.debian.org}
	local versions version main dep deps
	versions=$(fetch "$snapshot/mr/binary/$deb/") || return 1
	version=$(jq -r 'first(.result[].binary_version) // empty' <<<"$versions")
	[[ -n $version ]] || return 1
	[[ $version =~ $pkgversion_re ]] || {
		log "snapshot: refusing version ${version@Q}: not a package version"
		return 1
	}
	log "snapshot: $deb $version"
	rm -rf "$work/debs" && mkdir -p "$work/debs"
	main=$(snapshot_get "$deb" "$version") || return 1
	companion_list "$main"
	for dep in "${deps[@]}"; do
		snapshot_get "$dep" "$version" >/dev/null || log "snapshot: no $dep $version, leaving it to apt"
	done
	apt-get install -y --no-install-recommends "$work"/debs/*.deb
}

# launchpad_get NAME [VERSION]: one binary package from Launchpad, which
# keeps every build Ubuntu published.
launchpad_get() {
	local name=$1 version=${2-} pubs self list url urls
	pubs=$(fetch "$launchpad/ubuntu/+archive/primary?ws.op=getPublishedBinaries&binary_name=$name&exact_match=true") || return 1
	self=$(jq -r --arg a "/$debarch" --arg v "$version" \
		'first(.entries[] | select((.distro_arch_series_link | endswith($a)) and ($v == "" or .binary_package_version == $v)) | .self_link) // empty' <<<"$pubs")
	[[ -n $self ]] || return 1
	launchpad_url "$self" || return 1
	[[ -n $version ]] || log "launchpad: $name $(jq -r --arg s "$self" 'first(.entries[] | select(.self_link == $s) | .binary_package_version)' <<<"$pubs")"
	list=$(fetch "$self?ws.op=binaryFileUrls") || return 1
	mapfile -t urls < <(jq -r '.[]' <<<"$list")
	((${#urls[@]} > 0)) || return 1
	for url in "${urls[@]}"; do
		launchpad_url "$url" || return 1
		[[ ${url##*/} =~ ^[A-Za-z0-9._+~%-]+\.deb$ ]] || return 1
		fetch "$url" "$work/debs/${url##*/}" || return 1
		printf '%s\n' "$work/debs/${url##*/}"
	done
}

# launchpad_url URL: Launchpad's answers name the URLs fetched next; only
# plain https URLs are taken.
launchpad_url() {
	[[ $1 =~ ^https://[A-Za-z0-9.:-]+/[^[:space:]]*$ ]] && return 0
	log "launchpad: refusing URL ${1@Q}: accepted are https URLs"
	return 1
}

from_launchpad() {
	launchpad=${LAUNCHPAD_API:-https://api.launchpad.net/1.0}
	local main version dep deps
	rm -rf "$work/debs" && mkdir -p "$work/debs"
	main=$(launchpad_get "$deb") || return 1
	main=${main%%$'\n'*}
	[[ -n $main ]] || return 1
	version=$(dpkg-deb -f "$main" Version)
	companion_list "$main"
	for dep in "${deps[@]}"; do
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
