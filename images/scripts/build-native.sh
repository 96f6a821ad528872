#!/usr/bin/env bash
# Builds the driver for one kernel on this machine, without a container,
# when this machine runs the kernel's distribution and version: the
# toolchain then matches by construction, as the build images make it match
# in CI. It takes the driver-build workflow's inputs, as ghsim's
# -runner-command passes them, names the package as the workflow does, and
# runs build.sh, which writes the package and its .sha256 to OUT_DIR.
#
# Environment: KERNEL_VERSION, ARCHITECTURE, DISTRIBUTION, DISTRO_VERSION,
# DRIVER_VERSION, OUT_DIR; BUILD_ID is only logged. Optional: DRIVER_SRC
# (the repository's driver/), PACKAGE_PREFIX, PACKAGE_NAME_TEMPLATE,
# OS_RELEASE (/etc/os-release), and what build.sh reads. It needs Go (for
# matrix-gen and, when none is on PATH, nfpm at go.mod's version) and, as
# install-headers.sh runs apt-get, root.
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
root=$(readlink -f "$here/../..")
log() { printf 'build-native: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

: "${KERNEL_VERSION:?KERNEL_VERSION is required}" "${ARCHITECTURE:?ARCHITECTURE is required}" \
	"${DISTRIBUTION:?DISTRIBUTION is required}" "${DISTRO_VERSION:?DISTRO_VERSION is required}" \
	"${DRIVER_VERSION:?DRIVER_VERSION is required}" "${OUT_DIR:?OUT_DIR is required}"

# matrix-gen checks the inputs as the workflow's first step does, and
# answers with their normalized forms and the package's name.
args=(name --github-output
	--kernel-version "$KERNEL_VERSION" --architecture "$ARCHITECTURE"
	--distribution "$DISTRIBUTION" --distro-version "$DISTRO_VERSION"
	--driver-version "$DRIVER_VERSION")
[[ -z ${PACKAGE_PREFIX-} ]] || args+=(--package-prefix "$PACKAGE_PREFIX")
[[ -z ${PACKAGE_NAME_TEMPLATE-} ]] || args+=(--name-template "$PACKAGE_NAME_TEMPLATE")
named=$(cd "$root" && go run ./cmd/matrix-gen "${args[@]}") || die "matrix-gen refused the inputs"
declare -A pkg
while IFS='=' read -r key value; do
	pkg[$key]=$value
done <<<"$named"
for key in kernel_version architecture distribution distro_version driver_version package prefix; do
	[[ -n ${pkg[$key]-} ]] || die "matrix-gen did not say $key"
done

# Only a Debian-family host builds natively, and only for itself: os-release
# ID and VERSION_ID are then the distribution and version as the pipeline
# names them. Other distributions build in their images.
os_release=${OS_RELEASE:-/etc/os-release}
field() { sed -n "s/^$1=//p" "$os_release" | tr -d '"'; }
host="$(field ID) $(field VERSION_ID)"
want="${pkg[distribution]} ${pkg[distro_version]}"
case "${pkg[distribution]}" in
debian | ubuntu) ;;
*) die "native builds are for debian and ubuntu; ${pkg[distribution]} builds in its image (images/Dockerfile.base.${pkg[distribution]})" ;;
esac
[[ $host == "$want" ]] || die "this machine runs $host, not $want: build $want in its image (images/Dockerfile.base.${pkg[distribution]})"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kbuild writes its objects beside the sources: build a clean copy, so the
# checkout stays as it is and two builds never share a tree.
src=${DRIVER_SRC:-$root/driver}
[[ -f $src/Kbuild || -f $src/Makefile ]] || die "DRIVER_SRC $src holds no Kbuild or Makefile"
cp -R "$src" "$work/src"
find "$work/src" \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
	-o -name Module.symvers -o -name modules.order \) -delete

if ! command -v nfpm >/dev/null; then
	log "building nfpm"
	mkdir -p "$work/bin"
	(cd "$root" && go build -o "$work/bin/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm)
	PATH="$work/bin:$PATH"
fi

log "build ${BUILD_ID:-(none)}: ${pkg[package]}"
KVERSION=${pkg[kernel_version]} ARCH=${pkg[architecture]} \
	DISTRIBUTION=${pkg[distribution]} DISTRO_VERSION=${pkg[distro_version]} \
	DRIVER_VERSION=${pkg[driver_version]} PACKAGE_NAME=${pkg[package]} PACKAGE_PREFIX=${pkg[prefix]} \
	DRIVER_SRC="$work/src" OUT_DIR="$OUT_DIR" "$here/build.sh"
log "built in ${SECONDS}s"
