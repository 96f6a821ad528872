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

var (
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
	versionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.]{0,15}$`)
)

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
			d.Format, _ = KnownFormat(d.Name)
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
