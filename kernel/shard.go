package kernel

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ReleaseAssetLimit is how many assets GitHub lets one release hold
// ("file_count limited to 1000 assets per release"). A package takes two,
// itself and its .sha256, so a release holds at most 500 packages.
const ReleaseAssetLimit = 1000

// shardCounts records how many shard releases the driver versions from
// a version on spread their packages over, oldest first. 0 is the plain
// release only: v0.1.x were published before shards existed, and their
// packages stay where they are. Append only: a row changes where the
// packages of every version it covers are put, and a published package
// must never move (a package that did would still be found, in the plain
// release or through the build-service, but at the cost of a 404 for
// every node). Eight shards hold about 4,000 kernels; give the next
// driver version more when the fullest shard nears 500 packages.
var shardCounts = []struct {
	since  [3]int // vMAJOR.MINOR.PATCH; a prerelease counts as its release
	shards int
}{
	{[3]int{0, 0, 0}, 0},
	{[3]int{0, 2, 0}, 8},
}

// shardSep joins a driver version and a shard number into a tag. A + is
// not allowed in a driver version, so no shard tag is ever taken for one
// (and semver reads what follows it as build metadata of the version).
const shardSep = "+shard."

var versionCoreRe = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)\.([0-9]+)`)

// Shards is the number of shard releases a driver version's packages are
// spread over; 0 means all of them are in the driver version's own
// release.
func Shards(driverVersion string) int {
	m := versionCoreRe.FindStringSubmatch(driverVersion)
	if m == nil {
		return 0
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	n := 0
	for _, row := range shardCounts {
		if slices.Compare(v[:], row.since[:]) >= 0 {
			n = row.shards
		}
	}
	return n
}

// ReleaseTag is the tag of the release a package of a driver version
// lives in: {driver_version}+shard.{n}, n from 1 to Shards, chosen by a
// hash of the package name, so that every program computes it offline
// from the name alone; or the driver version itself for a driver version
// without shards. The package's .sha256 lives beside it.
func ReleaseTag(driverVersion, pkg string) string {
	n := Shards(driverVersion)
	if n == 0 {
		return driverVersion
	}
	h := fnv.New32a()
	h.Write([]byte(pkg))
	return ShardTag(driverVersion, 1+int(h.Sum32()%uint32(n)))
}

var packageNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}\.(deb|rpm)$`)

// ValidatePackageName checks a package file name that came from outside
// (a workflow input, a command line) before it reaches a shell or a URL.
func ValidatePackageName(name string) error {
	if !packageNameRe.MatchString(name) {
		return fmt.Errorf("package %s is not a package file name: accepted are letters, digits and . _ + ~ -, ending in .deb or .rpm", quote(name))
	}
	return nil
}

// ShardTag is the tag of shard n of a driver version.
func ShardTag(driverVersion string, n int) string {
	return driverVersion + shardSep + strconv.Itoa(n)
}

// ReleaseTags are the tags of every release that may hold a driver
// version's packages: its own release (which holds those published before
// it had shards), then each shard.
func ReleaseTags(driverVersion string) []string {
	tags := []string{driverVersion}
	for n := 1; n <= Shards(driverVersion); n++ {
		tags = append(tags, ShardTag(driverVersion, n))
	}
	return tags
}

// DriverVersionOfTag is the driver version a release tag holds packages
// of: the tag itself, or the version a shard tag names. ok is false for a
// tag that is neither.
func DriverVersionOfTag(tag string) (driverVersion string, shard int, ok bool) {
	v, n, sharded := strings.Cut(tag, shardSep)
	if ValidateDriverVersion(v) != nil {
		return "", 0, false
	}
	if !sharded {
		return v, 0, true
	}
	shard, err := strconv.Atoi(n)
	if err != nil || shard < 1 || shard > Shards(v) || strconv.Itoa(shard) != n {
		return "", 0, false
	}
	return v, shard, true
}
