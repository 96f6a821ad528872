package kernel

import (
	"slices"
	"strings"
)

// Request names one build: a driver version for one kernel of one
// distribution version on one architecture.
type Request struct {
	KernelVersion string `json:"kernel_version"`
	Architecture  string `json:"architecture"`
	Distribution  string `json:"distribution"`
	DistroVersion string `json:"distro_version,omitempty"`
	DriverVersion string `json:"driver_version"`
}

// Normalize validates every field and returns the request in canonical form:
// architecture spelled as uname -m does, distro_version filled in. An omitted
// distro_version is the one the release names (.fc42., .el9, amzn2023,
// +deb13) or else the distribution's default. A release that names another
// distribution or distro version than the request is refused: it would be
// built in the wrong container. The first invalid field is reported as a
// *FieldError.
func (c *Catalog) Normalize(r Request) (Request, error) {
	if err := ValidateRelease(r.KernelVersion); err != nil {
		return Request{}, err
	}
	arch, err := NormalizeArch(r.Architecture)
	if err != nil {
		return Request{}, err
	}
	r.Architecture = arch
	d, ok := c.Lookup(r.Distribution)
	if !ok {
		return Request{}, c.unknownDistribution(r.Distribution)
	}
	m, marked := MarkerOf(r.KernelVersion)
	if marked && m.Distribution != d.Name {
		return Request{}, fieldErr("kernel_version", "%s is a %s kernel (it says %q), not a %s one", quote(r.KernelVersion), m.Distribution, m.Text, d.Name)
	}
	if r.DistroVersion == "" {
		r.DistroVersion = d.Default
		if marked {
			r.DistroVersion = m.Version
		}
	}
	if !slices.Contains(d.Versions, r.DistroVersion) {
		return Request{}, fieldErr("distro_version", "%s is not supported for %s: accepted are %s", quote(r.DistroVersion), d.Name, strings.Join(d.Versions, ", "))
	}
	if marked && m.Version != r.DistroVersion {
		return Request{}, fieldErr("distro_version", "%s disagrees with kernel_version %s, which is built for %s %s (it says %q)", quote(r.DistroVersion), quote(r.KernelVersion), d.Name, m.Version, m.Text)
	}
	if err := ValidateDriverVersion(r.DriverVersion); err != nil {
		return Request{}, err
	}
	return r, nil
}

// CacheKey identifies one build: kernel:arch:distribution:distro_version:driver_version.
// Call it on a normalized request.
func (r Request) CacheKey() string {
	return strings.Join([]string{r.KernelVersion, r.Architecture, r.Distribution, r.DistroVersion, r.DriverVersion}, ":")
}
