package kernel

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Format is a package format.
type Format string

const (
	FormatDeb Format = "deb"
	FormatRPM Format = "rpm"
)

// Distribution is one supported distribution and the versions we build for.
type Distribution struct {
	Name     string   `yaml:"-" json:"name"`
	Versions []string `yaml:"versions" json:"versions"`
	Default  string   `yaml:"default" json:"default"`
	Format   Format   `yaml:"format,omitempty" json:"format"` // derived from Name for the known families
}

// DefaultDistributions is what a service without configuration builds for.
func DefaultDistributions() []Distribution {
	return []Distribution{
		{Name: "ubuntu", Versions: []string{"22.04", "24.04", "25.10", "26.04"}, Default: "24.04", Format: FormatDeb},
		{Name: "debian", Versions: []string{"12", "13"}, Default: "13", Format: FormatDeb},
		{Name: "fedora", Versions: []string{"42", "43"}, Default: "43", Format: FormatRPM},
		{Name: "centos", Versions: []string{"stream9", "stream10"}, Default: "stream10", Format: FormatRPM},
		{Name: "amazonlinux", Versions: []string{"2023"}, Default: "2023", Format: FormatRPM},
	}
}

var (
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
	versionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.]{0,15}$`)
)

// familyFormat knows the package format of the distributions we know.
var familyFormat = map[string]Format{
	"ubuntu": FormatDeb, "debian": FormatDeb,
	"fedora": FormatRPM, "centos": FormatRPM, "amazonlinux": FormatRPM,
}

// Catalog is the set of supported distributions and versions.
type Catalog struct {
	byName map[string]Distribution
	names  []string // sorted, for messages
}

// DefaultCatalog is NewCatalog(DefaultDistributions()).
func DefaultCatalog() *Catalog {
	c, err := NewCatalog(DefaultDistributions())
	if err != nil {
		panic(err) // the defaults are a constant; a failure is a bug here
	}
	return c
}

// CatalogOf is the catalog a configuration's distributions section
// describes, keyed by name; an empty section means the defaults.
func CatalogOf(byName map[string]Distribution) (*Catalog, error) {
	if len(byName) == 0 {
		return DefaultCatalog(), nil
	}
	ds := make([]Distribution, 0, len(byName))
	for name, d := range byName {
		d.Name = name
		ds = append(ds, d)
	}
	return NewCatalog(ds)
}

// NewCatalog checks a configured set of distributions. Names and versions
// are allow-listed because they reach image tags and shell scripts too.
func NewCatalog(ds []Distribution) (*Catalog, error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("no distributions configured")
	}
	c := &Catalog{byName: make(map[string]Distribution, len(ds))}
	for _, d := range ds {
		if !nameRe.MatchString(d.Name) {
			return nil, fmt.Errorf("distribution %q: a name is 1-32 lower-case letters and digits, starting with a letter", d.Name)
		}
		if _, dup := c.byName[d.Name]; dup {
			return nil, fmt.Errorf("distribution %q is listed twice", d.Name)
		}
		if len(d.Versions) == 0 {
			return nil, fmt.Errorf("distribution %q has no versions", d.Name)
		}
		for _, v := range d.Versions {
			if !versionRe.MatchString(v) {
				return nil, fmt.Errorf("distribution %q: version %q must be 1-16 lower-case letters, digits and dots", d.Name, v)
			}
		}
		if !slices.Contains(d.Versions, d.Default) {
			return nil, fmt.Errorf("distribution %q: default version %q is not one of its versions %v", d.Name, d.Default, d.Versions)
		}
		if d.Format == "" {
			d.Format = familyFormat[d.Name]
		}
		if d.Format != FormatDeb && d.Format != FormatRPM {
			return nil, fmt.Errorf("distribution %q: format must be deb or rpm", d.Name)
		}
		d.Versions = slices.Clone(d.Versions)
		c.byName[d.Name] = d
		c.names = append(c.names, d.Name)
	}
	sort.Strings(c.names)
	return c, nil
}

// Lookup returns a supported distribution by name.
func (c *Catalog) Lookup(name string) (Distribution, bool) {
	d, ok := c.byName[name]
	return d, ok
}

// Names lists the supported distributions, sorted.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// Distributions lists the supported distributions, sorted by name.
func (c *Catalog) Distributions() []Distribution {
	out := make([]Distribution, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.byName[n])
	}
	return out
}

// Format returns the package format of a supported distribution.
func (c *Catalog) Format(distribution string) (Format, error) {
	d, ok := c.byName[distribution]
	if !ok {
		return "", c.unknownDistribution(distribution)
	}
	return d.Format, nil
}

func (c *Catalog) unknownDistribution(name string) *FieldError {
	if name == "" {
		return fieldErr("distribution", "is required: one of %s", strings.Join(c.names, ", "))
	}
	return fieldErr("distribution", "%s is not supported: accepted are %s", quote(name), strings.Join(c.names, ", "))
}

// Marker is a distro version that a kernel release names itself.
type Marker struct {
	Distribution string
	Version      string
	Text         string // the part of the release that said so, for messages
}

// markers are the spellings distributions put into their kernel releases
// (and, for Debian backports, into package versions).
var markers = []struct {
	re           *regexp.Regexp
	distribution string
	prefix       string
}{
	{regexp.MustCompile(`\.fc([0-9]+)(?:\.|$)`), "fedora", ""},
	{regexp.MustCompile(`\.el([0-9]+)(?:_[0-9]+)?(?:\.|$)`), "centos", "stream"},
	{regexp.MustCompile(`\.amzn([0-9]+)(?:\.|$)`), "amazonlinux", ""},
	{regexp.MustCompile(`\+deb([0-9]+)(?:[-+.~u]|$)`), "debian", ""},
	{regexp.MustCompile(`~bpo([0-9]+)\+`), "debian", ""},
	{regexp.MustCompile(`[.-]deb([0-9]+)\.`), "debian", ""},
}

// MarkerOf finds the distro version a release encodes, as in
// 6.15.5-200.fc42.x86_64 (fedora 42), 5.14.0-596.el9.x86_64 (centos
// stream9), 6.1.119-129.201.amzn2023.x86_64 (amazonlinux 2023),
// 6.12.63+deb13-amd64 or 5.18.14-1~bpo11+1 (debian 13, 11).
func MarkerOf(release string) (Marker, bool) {
	for _, m := range markers {
		loc := m.re.FindStringSubmatchIndex(release)
		if loc == nil {
			continue
		}
		return Marker{
			Distribution: m.distribution,
			Version:      m.prefix + release[loc[2]:loc[3]],
			Text:         release[loc[0]:loc[1]],
		}, true
	}
	return Marker{}, false
}
