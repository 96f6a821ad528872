package kernel

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// family is everything the programs know about one distribution: the
// service (formats, versions, markers), the loader (os-release) and
// matrix-gen (how a kernel with no marker tells its distro version).
//
// Adding a distribution is one row in families, plus its build image
// images/Dockerfile.base.{name} and its branch of
// images/scripts/install-headers.sh; the images tests check that every row
// has both, and that the workflows list the same distributions.
type family struct {
	name   string
	format Format
	// versions are oldest first: matrix-gen keeps the newer of two distro
	// versions whose packages would have the same name.
	versions []string
	def      string

	// osReleaseIDs are the os-release(5) IDs of the distribution;
	// osVersion turns a VERSION_ID into its distro version (nil: as is).
	osReleaseIDs []string
	osVersion    func(versionID string) string

	// markers are the spellings the distribution puts into its kernel
	// releases (and, for Debian backports, into package versions), in the
	// order they are tried.
	markers []marker

	// guess tells the distro version of a kernel whose release carries no
	// marker, from what the source said about it (nil: markers only);
	// unguessable says what would have told it, for the skip report.
	guess       func(k KernelInfo) (string, bool)
	unguessable string
}

type marker struct {
	re     *regexp.Regexp
	prefix string // put before the number: el9 is stream9
	// needle is text every match contains, which a release is scanned
	// for before the expression runs: most releases carry no marker.
	needle string
}

func newMarker(pattern, prefix string) marker {
	re := regexp.MustCompile(pattern)
	return marker{re: re, prefix: prefix, needle: mustLiteral(pattern)}
}

// mustLiteral is the longest literal among the parts of a pattern that is
// a sequence: a string each of its matches contains.
func mustLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	longest := ""
	for _, p := range parts {
		if p.Op == syntax.OpLiteral && p.Flags&syntax.FoldCase == 0 && len(string(p.Rune)) > len(longest) {
			longest = string(p.Rune)
		}
	}
	return longest
}

// families is the catalog of distributions, in the order people list them.
var families = []family{
	{
		name: "ubuntu", format: FormatDeb,
		versions: []string{"22.04", "24.04", "25.10", "26.04"}, def: "24.04",
		osReleaseIDs: []string{"ubuntu"},
		guess: func(k KernelInfo) (string, bool) {
			return UbuntuVersion(k.Release, k.PackageVersion, k.Source)
		},
		unguessable: "neither a ~NN.NN backport suffix in the package version nor a GA kernel series (4.15, 5.15, 6.8, ...) of a GA source package",
	},
	{
		name: "debian", format: FormatDeb,
		versions: []string{"12", "13"}, def: "13",
		osReleaseIDs: []string{"debian"},
		markers:      debianMarkers,
		guess:        func(k KernelInfo) (string, bool) { return DebianVersion(k.Release, k.PackageVersion) },
		unguessable:  "neither +debNN, .debNN., ~bpoNN+ or ~debNNu in the release or package version nor a stable kernel series (6.1, 6.12, ...)",
	},
	{
		name: "fedora", format: FormatRPM,
		versions: []string{"42", "43"}, def: "43",
		osReleaseIDs: []string{"fedora"},
		markers:      []marker{newMarker(`\.fc([0-9]+)(?:\.|$)`, "")},
		unguessable:  "the release has no .fcNN.",
	},
	{
		name: "centos", format: FormatRPM,
		versions: []string{"stream9", "stream10"}, def: "stream10",
		// CentOS Stream 9 says VERSION_ID="9".
		osReleaseIDs: []string{"centos"},
		osVersion:    func(v string) string { m, _, _ := strings.Cut(v, "."); return "stream" + m },
		markers:      []marker{newMarker(`\.el([0-9]+)(?:_[0-9]+)?(?:\.|$)`, "stream")},
		unguessable:  "the release has no .elNN",
	},
	{
		name: "amazonlinux", format: FormatRPM,
		versions: []string{"2023"}, def: "2023",
		osReleaseIDs: []string{"amzn", "amazonlinux"},
		markers:      []marker{newMarker(`\.amzn([0-9]+)(?:\.|$)`, "")},
		// kernel-crawler's targets name the version: amazonlinux2023.
		guess:       func(k KernelInfo) (string, bool) { return k.TargetVersion, k.TargetVersion != "" },
		unguessable: "neither the target (amazonlinux2023) nor the release (.amzn2023.) names it",
	},
}

// debianMarkers are shared with DebianVersion, which families refers to.
var debianMarkers = []marker{
	newMarker(`\+deb([0-9]+)(?:[-+.~u]|$)`, ""),
	newMarker(`~bpo([0-9]+)\+`, ""),
	newMarker(`[.-]deb([0-9]+)\.`, ""),
}

func familyOf(name string) (family, bool) {
	i := slices.IndexFunc(families, func(f family) bool { return f.name == name })
	if i < 0 {
		return family{}, false
	}
	return families[i], true
}

// DefaultDistributions is what a service without configuration builds
// for: the catalog, in its order.
func DefaultDistributions() []Distribution {
	out := make([]Distribution, 0, len(families))
	for _, f := range families {
		out = append(out, Distribution{Name: f.name, Versions: slices.Clone(f.versions), Default: f.def, Format: f.format})
	}
	return out
}

// KnownFormat is the package format of a distribution of the catalog.
func KnownFormat(name string) (Format, bool) {
	f, ok := familyOf(name)
	return f.format, ok
}

// OSReleaseDistribution maps an os-release ID and VERSION_ID to the
// distribution and distro version the catalog names them by.
func OSReleaseDistribution(id, versionID string) (distribution, version string, ok bool) {
	for _, f := range families {
		if !slices.Contains(f.osReleaseIDs, id) {
			continue
		}
		version = versionID
		if f.osVersion != nil {
			version = f.osVersion(versionID)
		}
		return f.name, version, true
	}
	return "", "", false
}

// Marker is a distro version that a kernel release names itself.
type Marker struct {
	Distribution string
	Version      string
	Text         string // the part of the release that said so, for messages
}

// MarkerOf finds the distro version a release encodes, as in
// 6.15.5-200.fc42.x86_64 (fedora 42), 5.14.0-596.el9.x86_64 (centos
// stream9), 6.1.119-129.201.amzn2023.x86_64 (amazonlinux 2023),
// 6.12.63+deb13-amd64 or 5.18.14-1~bpo11+1 (debian 13, 11).
func MarkerOf(release string) (Marker, bool) {
	for _, f := range families {
		if m, ok := f.markerOf(release); ok {
			return m, true
		}
	}
	return Marker{}, false
}

func (f family) markerOf(release string) (Marker, bool) {
	return markerOf(f.name, f.markers, release)
}

func markerOf(distribution string, markers []marker, release string) (Marker, bool) {
	for _, m := range markers {
		if !strings.Contains(release, m.needle) {
			continue
		}
		loc := m.re.FindStringSubmatchIndex(release)
		if loc == nil {
			continue
		}
		return Marker{
			Distribution: distribution,
			Version:      m.prefix + release[loc[2]:loc[3]],
			Text:         release[loc[0]:loc[1]],
		}, true
	}
	return Marker{}, false
}

// KernelInfo is what a source (kernels.json, kernel-crawler, a livepatch
// repository) says about a kernel besides its release.
type KernelInfo struct {
	Release        string // as uname -r prints it
	PackageVersion string // of its headers package, when known: 5.15.0-41.44~20.04.1
	Source         string // the headers' source package, when known: linux-hwe-5.15
	TargetVersion  string // the version the source's target names: 2023 of amazonlinux2023
}

// GuessDistroVersion tells the distro version of a kernel of a
// distribution when nobody said which, or why it cannot.
func GuessDistroVersion(distribution string, k KernelInfo) (version, why string) {
	f, ok := familyOf(distribution)
	if !ok {
		return "", "no distro version given and none in the release"
	}
	if f.guess != nil {
		if v, ok := f.guess(k); ok {
			return v, ""
		}
	}
	if m, ok := f.markerOf(k.Release); ok {
		return m.Version, ""
	}
	return "", f.unguessable
}
