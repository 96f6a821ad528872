#!/usr/bin/env bash
# Builds the driver for one kernel inside its distribution's build image:
# installs the kernel's headers, compiles the module, packages it with nfpm
# under the name matrix-gen gave it, and writes the package's sha256.
#
# Environment: KVERSION, ARCH, DISTRIBUTION, DISTRO_VERSION, DRIVER_VERSION,
# PACKAGE_NAME (from `matrix-gen name`). Optional: PACKAGE_PREFIX
# (riptides-driver), DRIVER_SRC (/src/driver), OUT_DIR (/out),
# PACKAGE_MAINTAINER, and what install-headers.sh reads.
#
# It builds for the machine it runs on: ARCH must be what `uname -m` says,
# or a module of one architecture would be packaged as the other's.
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
log() { printf 'build: %s\n' "$*" >&2; }
# group NAME folds what follows in a GitHub Actions log, and makes a job
# step of it under ghsim's -runner-command.
grouped=
group() {
	[[ -z $grouped ]] || echo "::endgroup::" >&2
	printf '::group::%s\n' "$*" >&2
	grouped=1
}
die() { log "$*"; exit 1; }

: "${KVERSION:?KVERSION is required}" "${ARCH:?ARCH is required}" "${DRIVER_VERSION:?DRIVER_VERSION is required}" \
	"${DISTRIBUTION:?DISTRIBUTION is required}" "${DISTRO_VERSION:?DISTRO_VERSION is required}" \
	"${PACKAGE_NAME:?PACKAGE_NAME is required}"
prefix=${PACKAGE_PREFIX:-riptides-driver}
maintainer=${PACKAGE_MAINTAINER:-driverbuild <driverbuild@users.noreply.github.com>}
src=${DRIVER_SRC:-/src/driver}
out=${OUT_DIR:-/out}

# These values reach the package's metadata as double-quoted YAML scalars
# and a shell script: none may hold a quote, a backslash or a control
# character. install-headers.sh checks the ones it uses again.
[[ ${#KVERSION} -le 128 && $KVERSION =~ ^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$ ]] ||
	die "KVERSION ${KVERSION@Q} is not a kernel release"
[[ $DISTRIBUTION =~ ^[a-z][a-z0-9]{0,31}$ ]] || die "DISTRIBUTION ${DISTRIBUTION@Q}: 1-32 lower-case letters and digits"
[[ $DISTRO_VERSION =~ ^[a-z0-9][a-z0-9.]{0,15}$ ]] || die "DISTRO_VERSION ${DISTRO_VERSION@Q} is not a distribution version"
maintainer_re='^[^"\\[:cntrl:]]{1,128}$'
[[ $maintainer =~ $maintainer_re ]] ||
	die "PACKAGE_MAINTAINER ${maintainer@Q}: 1-128 characters, no quotes, backslashes or control characters"

[[ $DRIVER_VERSION =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
	die "DRIVER_VERSION ${DRIVER_VERSION@Q}: accepted is vMAJOR.MINOR.PATCH[-prerelease]"
[[ $PACKAGE_NAME =~ ^[A-Za-z0-9._+~-]+\.(deb|rpm)$ ]] || die "PACKAGE_NAME ${PACKAGE_NAME@Q} is not a .deb or .rpm file name"
format=${BASH_REMATCH[1]}
[[ $prefix =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || die "PACKAGE_PREFIX ${prefix@Q}: 1-64 lower-case letters, digits and . _ -"
case "$ARCH" in
x86_64) pkgarch=amd64 ;;
aarch64) pkgarch=arm64 ;;
*) die "ARCH ${ARCH@Q}: accepted are x86_64 and aarch64" ;;
esac
machine=$(uname -m)
[[ $machine == "$ARCH" ]] || die "ARCH is $ARCH but this machine is $machine: build on a $ARCH runner"

group "Install kernel headers"
log "headers of $KVERSION"
kdir=$("$here/install-headers.sh")

group "Build driver"
log "compiling $src against $kdir"
make -C "$kdir" M="$src" modules >&2 || die "compiling the driver against $KVERSION failed"
mapfile -t modules < <(find "$src" -name '*.ko' | sort)
((${#modules[@]} > 0)) || die "compiling made no .ko in $src"
for m in "${modules[@]}"; do
	[[ $m =~ ^[A-Za-z0-9/._+-]+$ ]] || die "module ${m@Q}: a path of letters, digits and / . _ + - is accepted"
done
log "modules: ${modules[*]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/depmod.sh" <<SCRIPT
#!/bin/sh
if command -v depmod >/dev/null 2>&1; then depmod -a '$KVERSION' || true; fi
SCRIPT
{
	# Every value is checked above or is a path mktemp made: plain
	# double-quoted YAML scalars are safe.
	echo "name: \"$prefix-$KVERSION\""
	echo "arch: \"$pkgarch\""
	echo "platform: linux"
	echo "version: \"${DRIVER_VERSION#v}\""
	echo "version_schema: semver"
	echo "maintainer: \"$maintainer\""
	echo "description: \"Driver $DRIVER_VERSION for Linux $KVERSION ($DISTRIBUTION $DISTRO_VERSION)\""
	echo "contents:"
	for m in "${modules[@]}"; do
		echo "  - src: \"$m\""
		echo "    dst: \"/lib/modules/$KVERSION/extra/${m##*/}\""
		echo "    file_info: {mode: 0644}"
	done
	echo "scripts:"
	echo "  postinstall: \"$work/depmod.sh\""
	echo "  postremove: \"$work/depmod.sh\""
} >"$work/nfpm.yaml"

group "Package"
mkdir -p "$out"
log "packaging $PACKAGE_NAME"
nfpm package --config "$work/nfpm.yaml" --packager "$format" --target "$out/$PACKAGE_NAME" >&2
(cd "$out" && sha256sum "$PACKAGE_NAME" >"$PACKAGE_NAME.sha256")
echo "::endgroup::" >&2
log "done: $out/$PACKAGE_NAME $(cut -d' ' -f1 "$out/$PACKAGE_NAME.sha256")"
