package matrix

import (
	"fmt"
	"slices"
	"strings"

	"github.com/riptides/driverbuild/kernel"
)

// Entry is one kernel a source names, before its distro version is known
// for sure.
type Entry struct {
	Arch          string // x86_64 or aarch64
	Target        string // as the source names it: ubuntu, ubuntu-gcp, amazonlinux2023, AmazonLinux2
	KernelRelease string // as uname -r prints it
	DistroVersion string // empty when the source does not say

	// What a header package told about the release, for the distro version
	// of Ubuntu and Debian kernels; empty when unknown.
	PackageVersion string
	Source         string

	// Input is the source's own name for the kernel when it is not
	// KernelRelease (a Debian package version, an Ubuntu -hwe release, a
	// livepatch package), for the skip report.
	Input string
}

// Skipped is an entry that is not built, and why.
type Skipped struct {
	KernelRelease string `json:"kernelrelease"`
	Target        string `json:"target"`
	Reason        string `json:"reason"`
}

func skip(e Entry, format string, args ...any) Skipped {
	reason := fmt.Sprintf(format, args...)
	release := e.KernelRelease
	if e.Input != "" && e.Input != e.KernelRelease {
		release = e.Input
		reason = "as " + e.KernelRelease + ": " + reason
	}
	return Skipped{KernelRelease: release, Target: e.Target, Reason: reason}
}

// SplitTarget takes the distribution and the version a target names:
// ubuntu-gcp is ubuntu, amazonlinux2023 is amazonlinux 2023, Oracle7 is
// oracle 7. Crawler targets and display names (AmazonLinux2, CentOS) and
// plain distribution names all work.
func SplitTarget(target string) (distribution, version string) {
	t := strings.ToLower(target)
	if i := strings.IndexByte(t, '-'); i >= 0 {
		t = t[:i]
	}
	end := len(t)
	for end > 0 && t[end-1] >= '0' && t[end-1] <= '9' {
		end--
	}
	return t[:end], t[end:]
}

// derive makes the build request of an entry, or says why there is none.
func derive(cat *kernel.Catalog, e Entry, driverVersion string) (kernel.Request, *Skipped) {
	family, suffix := SplitTarget(e.Target)
	d, ok := cat.Lookup(family)
	if !ok {
		s := skip(e, "distribution %s is not supported: accepted are %s", family, strings.Join(cat.Names(), ", "))
		return kernel.Request{}, &s
	}
	version := e.DistroVersion
	if version == "" {
		var why string
		version, why = kernel.GuessDistroVersion(family, kernel.KernelInfo{
			Release: e.KernelRelease, PackageVersion: e.PackageVersion, Source: e.Source, TargetVersion: suffix,
		})
		if version == "" {
			s := skip(e, "cannot tell the %s version: %s", family, why)
			return kernel.Request{}, &s
		}
	}
	if !slices.Contains(d.Versions, version) {
		s := skip(e, "%s %s is not supported: accepted are %s", family, version, strings.Join(d.Versions, ", "))
		return kernel.Request{}, &s
	}
	r, err := cat.Normalize(kernel.Request{
		KernelVersion: e.KernelRelease,
		Architecture:  e.Arch,
		Distribution:  family,
		DistroVersion: version,
		DriverVersion: driverVersion,
	})
	if err != nil {
		s := skip(e, "%v", err)
		return kernel.Request{}, &s
	}
	if a := releaseArch(r.KernelVersion); a != "" && a != r.Architecture {
		s := skip(e, "the release is an %s kernel, listed for %s", a, r.Architecture)
		return kernel.Request{}, &s
	}
	return r, nil
}
