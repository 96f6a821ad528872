// Package detect works out which distribution, distro version, kernel
// release and architecture a node runs, spelled as the build-service
// spells them.
package detect

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/riptides/driverbuild/kernel"
)

// Platform is what the package name is made of.
type Platform struct {
	Distribution  string
	DistroVersion string
	KernelRelease string
	Arch          string
}

// Detector reads the system. The zero value with a Catalog detects the
// running system.
type Detector struct {
	// HostRoot is where the host's file system is mounted, as in a container
	// that mounts it at /host; empty means /.
	HostRoot string
	// Aliases maps an os-release ID to one detection knows, for
	// rebuilds such as rocky -> centos.
	Aliases map[string]string
	// Catalog is what the build-service supports.
	Catalog *kernel.Catalog
	// Uname returns the kernel release and machine; nil means the uname
	// system call.
	Uname func() (release, machine string, err error)
}

// UnsupportedError says what was detected and what would have been
// accepted.
type UnsupportedError struct {
	What      string // e.g. "distribution", "architecture"
	Detected  string
	Supported string
	Hint      string
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("unsupported %s: detected %s; supported are %s", e.What, e.Detected, e.Supported)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Detect fills in what over leaves empty. A --distribution override that
// differs from the detected one drops the detected version too, leaving
// it to be derived from the kernel release or the distribution's default.
func (d Detector) Detect(over Platform) (Platform, error) {
	p := over
	if p.KernelRelease == "" || p.Arch == "" {
		release, machine, err := d.kernel()
		if err != nil {
			return Platform{}, err
		}
		p.KernelRelease = cmp.Or(p.KernelRelease, release)
		p.Arch = cmp.Or(p.Arch, machine)
	}
	arch, err := kernel.NormalizeArch(p.Arch)
	if err != nil {
		return Platform{}, &UnsupportedError{What: "architecture", Detected: fmt.Sprintf("%q", p.Arch), Supported: "x86_64 and aarch64"}
	}
	p.Arch = arch

	if p.Distribution != "" && p.DistroVersion != "" {
		return p, nil
	}
	osr, err := d.osRelease()
	if err != nil {
		if p.Distribution != "" {
			return p, nil // the version is derived later
		}
		return Platform{}, &UnsupportedError{
			What: "system", Detected: "no readable os-release (" + err.Error() + ")",
			Supported: d.supported(), Hint: "give --distribution and --distro-version",
		}
	}
	dist, version, err := d.Map(osr)
	switch {
	case p.Distribution == "":
		if err != nil {
			return Platform{}, err
		}
		p.Distribution = dist
		p.DistroVersion = cmp.Or(p.DistroVersion, version)
	case err == nil && dist == p.Distribution && p.DistroVersion == "":
		p.DistroVersion = version
	}
	return p, nil
}

// Map turns an os-release into the service's distribution and version, or
// explains why it cannot.
func (d Detector) Map(o OSRelease) (distribution, version string, err error) {
	id := o.ID
	if alias, ok := d.Aliases[id]; ok {
		id = alias
	}
	unsupported := func() error {
		return &UnsupportedError{
			What: "distribution", Detected: o.String(), Supported: d.supported(),
			Hint: "override with --distribution and --distro-version, or map the ID to a supported one with an alias in the config file (e.g. aliases: {rocky: centos})",
		}
	}
	distribution, version, ok := kernel.OSReleaseDistribution(id, o.VersionID)
	if !ok || o.VersionID == "" {
		return "", "", unsupported()
	}
	dist, ok := d.Catalog.Lookup(distribution)
	if !ok || !slices.Contains(dist.Versions, version) {
		return "", "", unsupported()
	}
	return distribution, version, nil
}

func (d Detector) supported() string {
	var parts []string
	for _, dist := range d.Catalog.Distributions() {
		parts = append(parts, dist.Name+" "+strings.Join(dist.Versions, ", "))
	}
	return strings.Join(parts, "; ")
}

func (d Detector) path(p string) string {
	if d.HostRoot == "" {
		return p
	}
	return filepath.Join(d.HostRoot, p)
}

// osRelease reads /etc/os-release, or /usr/lib/os-release as os-release(5)
// says to when the first is missing.
func (d Detector) osRelease() (OSRelease, error) {
	var firstErr error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		f, err := os.Open(d.path(p))
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		defer f.Close()
		o, err := ParseOSRelease(f)
		if err != nil {
			return OSRelease{}, fmt.Errorf("read %s: %w", d.path(p), err)
		}
		return o, nil
	}
	return OSRelease{}, firstErr
}

// kernel reads the release from the host root's /proc when it is mounted
// there; a container shares the host's kernel, so uname answers otherwise.
func (d Detector) kernel() (release, machine string, err error) {
	uname := d.Uname
	if uname == nil {
		uname = Uname
	}
	release, machine, err = uname()
	if err != nil {
		return "", "", fmt.Errorf("uname: %w", err)
	}
	if d.HostRoot != "" {
		b, err := os.ReadFile(d.path("/proc/sys/kernel/osrelease"))
		switch {
		case err == nil:
			release = strings.TrimSpace(string(b))
		case !errors.Is(err, fs.ErrNotExist):
			return "", "", fmt.Errorf("read kernel release: %w", err)
		}
	}
	return release, machine, nil
}
