package kernel

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// HeaderPackage is what the file name of a Debian or Ubuntu
// linux-headers-<release>_<version>_<arch>.deb says, and the pool directory
// it sits in.
type HeaderPackage struct {
	Release string // the ABI release, as uname -r prints it: 5.15.0-41-generic, 5.18.0-0.deb11.3-cloud-amd64
	Version string // the package version: 5.15.0-41.44~20.04.1, 5.18.14-1~bpo11+1
	Arch    string // the package architecture: amd64, arm64
	Source  string // the source package, from .../pool/<component>/<letter>/<source>/: linux, linux-hwe-5.15; empty if the URL has no pool path
}

// ParseHeaderURL reads a flavour's headers package from its URL. It refuses
// the flavour-independent packages (linux-headers-5.15.0-41_..._all.deb,
// linux-headers-5.18.0-0.deb11.3-common_..._all.deb): no kernel runs as them.
func ParseHeaderURL(u string) (HeaderPackage, bool) {
	p := u
	if parsed, err := url.Parse(u); err == nil && parsed.Path != "" {
		p = parsed.Path // unescaped: %7E -> ~
	}
	name, ok := strings.CutPrefix(path.Base(p), "linux-headers-")
	if !ok {
		return HeaderPackage{}, false
	}
	name, ok = strings.CutSuffix(name, ".deb")
	if !ok {
		return HeaderPackage{}, false
	}
	f := strings.Split(name, "_")
	if len(f) != 3 || f[2] == "all" || strings.HasSuffix(f[0], "-common") || strings.HasSuffix(f[0], "-common-rt") {
		return HeaderPackage{}, false
	}
	h := HeaderPackage{Release: f[0], Version: f[1], Arch: f[2]}
	if ValidateRelease(h.Release) != nil {
		return HeaderPackage{}, false
	}
	dir := strings.Split(path.Dir(p), "/")
	for i := len(dir) - 4; i >= 0; i-- {
		if dir[i] == "pool" {
			h.Source = dir[i+3]
			break
		}
	}
	return h, true
}

// seriesRe takes the kernel series (major.minor) from a release or a
// package version.
var seriesRe = regexp.MustCompile(`^([0-9]+\.[0-9]+)[.-]`)

func series(release string) string {
	m := seriesRe.FindStringSubmatch(release)
	if m == nil {
		return ""
	}
	return m[1]
}

// ubuntuGA maps a kernel series to the Ubuntu release that shipped it as its
// general-availability kernel.
var ubuntuGA = map[string]string{
	"3.13": "14.04", "3.16": "14.10", "3.19": "15.04", "4.2": "15.10",
	"4.4": "16.04", "4.8": "16.10", "4.10": "17.04", "4.13": "17.10",
	"4.15": "18.04", "4.18": "18.10", "5.0": "19.04", "5.3": "19.10",
	"5.4": "20.04", "5.8": "20.10", "5.11": "21.04", "5.13": "21.10",
	"5.15": "22.04", "5.19": "22.10", "6.2": "23.04", "6.5": "23.10",
	"6.8": "24.04", "6.11": "24.10", "6.14": "25.04", "6.17": "25.10",
	"7.0": "26.04",
}

var (
	ubuntuBackportRe = regexp.MustCompile(`~([0-9]{2}\.[0-9]{2})(?:\.[0-9]+)*$`)
	// A source package named for a kernel series (linux-hwe-5.15,
	// linux-gcp-6.8), an edge kernel or an OEM kernel is not its series'
	// GA kernel, so the series says nothing about the Ubuntu release.
	ubuntuNotGARe = regexp.MustCompile(`-[0-9]+\.[0-9]+$|-edge|^linux-oem-`)
)

// UbuntuVersion tells which Ubuntu release a kernel was built for. A
// backport says so in its package version (5.15.0-41.44~20.04.1 is for
// 20.04); otherwise a kernel from a GA source package (linux, linux-gcp,
// linux-lowlatency, or unknown: pass "") belongs to the release whose GA
// series it is (5.15 is 22.04's). pkgVersion may be empty.
func UbuntuVersion(release, pkgVersion, source string) (string, bool) {
	if m := ubuntuBackportRe.FindStringSubmatch(pkgVersion); m != nil {
		return m[1], true
	}
	if source != "" && ubuntuNotGARe.MatchString(source) {
		return "", false
	}
	v, ok := ubuntuGA[series(release)]
	return v, ok
}

var (
	debianBackportRe = regexp.MustCompile(`~bpo([0-9]+)\+[0-9]+$`)
	debianRebuildRe  = regexp.MustCompile(`~deb([0-9]+)u[0-9]+$`)
	debianUpdateRe   = regexp.MustCompile(`\+deb([0-9]+)u[0-9]+$`)
	// debianBackportABIRe: 4.19.0-0.bpo.9-amd64 or 6.10.11+bpo-amd64 is a
	// backport whose release does not say to which Debian.
	debianBackportABIRe = regexp.MustCompile(`[.+]bpo[.-]`)
)

// debianStable maps a kernel series to the Debian release that ships it.
var debianStable = map[string]string{
	"3.16": "8", "4.9": "9", "4.19": "10", "5.10": "11", "6.1": "12", "6.12": "13",
}

// DebianVersion tells which Debian release a kernel was built for, from its
// ABI release (6.12.63+deb13-amd64, 5.18.0-0.deb11.3-amd64) or else from its
// package version, where the last suffix names the target
// (5.18.14-1~bpo11+1 and 4.19.232-1~deb9u1 are for 11 and 9,
// 4.19.118-2+deb10u1 for 10), or else, for a release that is no backport,
// from the Debian release that ships its kernel series (6.1.0-43-amd64 is
// 12's). pkgVersion may be empty.
func DebianVersion(release, pkgVersion string) (string, bool) {
	if m, ok := markerOf("debian", debianMarkers, release); ok {
		return m.Version, true
	}
	for _, re := range []*regexp.Regexp{debianBackportRe, debianRebuildRe, debianUpdateRe} {
		if m := re.FindStringSubmatch(pkgVersion); m != nil {
			return m[1], true
		}
	}
	if debianBackportABIRe.MatchString(release) || strings.Contains(pkgVersion, "~bpo") {
		return "", false
	}
	v, ok := debianStable[series(release)]
	return v, ok
}

var livepatchRe = regexp.MustCompile(`^kernel-livepatch-([0-9]+\.[0-9]+\.[0-9]+-[0-9]+\.[0-9]+)(?:-[0-9.]+-[0-9]+\.(amzn[0-9]+))?$`)

// LivepatchRelease is the kernel release an Amazon Linux kernel-livepatch
// package patches: kernel-livepatch-6.1.153-175.280 (optionally with its
// -1.0-1.amzn2023 version and release) on x86_64 patches
// 6.1.153-175.280.amzn2023.x86_64. Without a release the dist tag is
// amzn2023, the only Amazon Linux that ships these packages by that name.
func LivepatchRelease(pkg, arch string) (string, bool) {
	m := livepatchRe.FindStringSubmatch(pkg)
	if m == nil || (arch != ArchX86_64 && arch != ArchAarch64) {
		return "", false
	}
	dist := m[2]
	if dist == "" {
		dist = "amzn2023"
	}
	return m[1] + "." + dist + "." + arch, true
}
