#!/usr/bin/env bash
# Publishes one built package and its .sha256 to the release it lives in
# (matrix-gen release: a shard of the driver version, or the driver
# version's own release), creating a shard release the first time a package
# needs it. driver-build.yml runs it after the build.
#
# Loaders verify a package against its .sha256, so while a package is
# listed its .sha256 must be the matching one: the .sha256 goes up first,
# the package last. A published package is kept (a replacement would 404 or
# fail its check for whoever downloads it meanwhile) unless REBUILD is
# true; one published in the driver version's own release before it had
# shards counts as published.
#
# Environment: GITHUB_REPOSITORY, DRIVER_VERSION, PACKAGE_NAME,
# DISTRIBUTION, DISTRO_VERSION, RELEASE, SHARD, SHARDS (matrix-gen release's
# outputs), REBUILD (true|false). Optional: OUT_DIR (where the build put
# the package and its .sha256, default out), BUILD_ID, GITHUB_STEP_SUMMARY.
# gh does the GitHub calls (GH_TOKEN).
set -euo pipefail

log() { printf 'upload-package: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

: "${GITHUB_REPOSITORY:?}" "${DRIVER_VERSION:?}" "${PACKAGE_NAME:?}" "${DISTRIBUTION:?}" \
	"${DISTRO_VERSION:?}" "${RELEASE:?}" "${SHARD:?}" "${SHARDS:?}" "${REBUILD:?}"
out=${OUT_DIR:-out}

# matrix-gen checked these; they reach command lines, so check again.
[[ $PACKAGE_NAME =~ ^[A-Za-z0-9][A-Za-z0-9._+~-]*\.(deb|rpm)$ ]] || die "PACKAGE_NAME ${PACKAGE_NAME@Q} is not a package file name"
[[ $RELEASE == "$DRIVER_VERSION" || $RELEASE == "$DRIVER_VERSION+shard.$SHARD" ]] ||
	die "RELEASE ${RELEASE@Q} is neither $DRIVER_VERSION nor one of its shards"

repo=(--repo "$GITHUB_REPOSITORY")
names() { gh release view "$1" "${repo[@]}" --json assets --jq '.assets[].name'; }

# A shard release is made the first time a package goes to it: at the
# driver version's commit, as a pre-release that is never "latest", so that
# the nightly batch and people still find the driver version as the latest
# release. Two builds may make it at once; the one that loses is refused
# (the tag has a release already) and finds it made.
if [[ $RELEASE != "$DRIVER_VERSION" ]] && ! gh release view "$RELEASE" "${repo[@]}" --json tagName >/dev/null 2>&1; then
	commit=$(gh api "repos/$GITHUB_REPOSITORY/commits/$DRIVER_VERSION" --jq .sha)
	[[ $commit =~ ^[0-9a-f]{40}$ ]] || die "the commit of $DRIVER_VERSION is ${commit@Q}, not a sha"
	if gh release create "$RELEASE" "${repo[@]}" --target "$commit" --prerelease --latest=false \
		--title "$DRIVER_VERSION packages, shard $SHARD of $SHARDS" \
		--notes "Driver packages of $DRIVER_VERSION, shard $SHARD of $SHARDS: a release holds at most 1,000 assets, so the packages of a driver version are spread over shards by a hash of their names (kernel.ReleaseTag in driverbuild)."; then
		log "created release $RELEASE"
	else
		gh release view "$RELEASE" "${repo[@]}" --json tagName >/dev/null ||
			die "release $RELEASE could not be created, and nobody else created it"
		log "release $RELEASE was created by another build meanwhile"
	fi
fi

assets=$(names "$RELEASE")
# Where the package is published already: its release, or the driver
# version's own one (published before shards).
where=$RELEASE
if ! grep -Fqx -- "$PACKAGE_NAME" <<<"$assets" && [[ $RELEASE != "$DRIVER_VERSION" ]]; then
	plain=$(names "$DRIVER_VERSION")
	if grep -Fqx -- "$PACKAGE_NAME" <<<"$plain"; then
		where=$DRIVER_VERSION assets=$plain
	fi
fi
has() { grep -Fqx -- "$1" <<<"$assets"; }

sum=$(cut -d' ' -f1 "$out/$PACKAGE_NAME.sha256")
if has "$PACKAGE_NAME" && [[ $REBUILD != true ]]; then
	outcome="kept the published package in $where; this build's sha256 was $sum"
	if ! has "$PACKAGE_NAME.sha256"; then
		# An upload cut short: publish the digest of the package that is
		# there, not of this build.
		published=$(mktemp -d)
		gh release download "$where" "${repo[@]}" --pattern "$PACKAGE_NAME" --dir "$published"
		(cd "$published" && sha256sum -- "$PACKAGE_NAME" >"$PACKAGE_NAME.sha256")
		gh release upload "$where" "${repo[@]}" "$published/$PACKAGE_NAME.sha256"
		outcome="kept the published package in $where and added its missing .sha256 ($(cut -d' ' -f1 "$published/$PACKAGE_NAME.sha256"))"
	fi
else
	if has "$PACKAGE_NAME"; then
		# A rebuild: the old package goes first, so that nobody pairs it
		# with the new .sha256.
		gh release delete-asset "$where" "$PACKAGE_NAME" "${repo[@]}" --yes
		if [[ $where != "$RELEASE" ]] && has "$PACKAGE_NAME.sha256"; then
			gh release delete-asset "$where" "$PACKAGE_NAME.sha256" "${repo[@]}" --yes
		fi
	fi
	# Nothing is paired with a .sha256 whose package is not listed, so
	# replacing a stale one is safe.
	gh release upload "$RELEASE" "${repo[@]}" --clobber "$out/$PACKAGE_NAME.sha256"
	# The label tells the build-service which distro version the package
	# was built for.
	gh release upload "$RELEASE" "${repo[@]}" "$out/$PACKAGE_NAME#$DISTRIBUTION $DISTRO_VERSION"
	outcome="uploaded to $RELEASE, sha256 $sum"
fi
echo "$PACKAGE_NAME: $outcome"
if [[ -n ${GITHUB_STEP_SUMMARY-} ]]; then
	{
		echo "### $PACKAGE_NAME"
		echo
		echo "build ${BUILD_ID:-(batch)}: $outcome"
	} >>"$GITHUB_STEP_SUMMARY"
fi
