package kernel

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// DefaultPrefix and DefaultTemplate give names such as
// riptides-driver-ubuntu-6.14.0-1021-gcp_v0.1.2_amd64.deb.
const (
	DefaultPrefix   = "riptides-driver"
	DefaultTemplate = "{prefix}-{distribution}-{kernel_release}_{driver_version}_{pkgarch}.{ext}"
)

// placeholders a template may use.
var placeholders = map[string]func(n Naming, r Request, f Format) string{
	"prefix":         func(n Naming, _ Request, _ Format) string { return n.Prefix },
	"distribution":   func(_ Naming, r Request, _ Format) string { return r.Distribution },
	"distro_version": func(_ Naming, r Request, _ Format) string { return r.DistroVersion },
	"kernel_release": func(_ Naming, r Request, _ Format) string { return r.KernelVersion },
	"driver_version": func(_ Naming, r Request, _ Format) string { return r.DriverVersion },
	"arch":           func(_ Naming, r Request, _ Format) string { return r.Architecture },
	"pkgarch":        func(_ Naming, r Request, _ Format) string { return PkgArch(r.Architecture) },
	"ext":            func(_ Naming, _ Request, f Format) string { return string(f) },
}

var (
	placeholderRe = regexp.MustCompile(`\{([a-z_]+)\}`)
	prefixRe      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	literalRe     = regexp.MustCompile(`^[A-Za-z0-9._+~-]*$`)
)

// Naming makes package file names. Names for two distro versions of one
// distribution can collide under the default template (Ubuntu 22.04's HWE
// kernels share a uname -r with 24.04's); a template with {distro_version}
// keeps them apart.
type Naming struct {
	Prefix   string `yaml:"prefix"`
	Template string `yaml:"name_template"`
}

// DefaultNaming is the naming used when nothing is configured.
func DefaultNaming() Naming { return Naming{Prefix: DefaultPrefix, Template: DefaultTemplate} }

// Validate checks the prefix and that the template uses only known
// placeholders, names the kernel, driver version, architecture and
// extension, and adds only characters that are safe in a file name and URL.
func (n Naming) Validate() error {
	if !prefixRe.MatchString(n.Prefix) {
		return fmt.Errorf("package prefix %q: 1-64 lower-case letters, digits and . _ -", n.Prefix)
	}
	used := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(n.Template, -1) {
		if _, ok := placeholders[m[1]]; !ok {
			return fmt.Errorf("name template %q: unknown placeholder {%s}; known are {prefix} {distribution} {distro_version} {kernel_release} {driver_version} {arch} {pkgarch} {ext}", n.Template, m[1])
		}
		used[m[1]] = true
	}
	for _, need := range []string{"distribution", "kernel_release", "driver_version", "ext"} {
		if !used[need] {
			return fmt.Errorf("name template %q must contain {%s}", n.Template, need)
		}
	}
	if !used["arch"] && !used["pkgarch"] {
		return fmt.Errorf("name template %q must contain {arch} or {pkgarch}", n.Template)
	}
	if rest := placeholderRe.ReplaceAllString(n.Template, ""); !literalRe.MatchString(rest) {
		return fmt.Errorf("name template %q: outside placeholders only letters, digits and . _ + ~ - are allowed", n.Template)
	}
	return nil
}

// PackageName is the file name of the package for a normalized request.
// It expands what placeholderRe matches by hand: every POST /build names
// a package, and the expression cost ten times this.
func (n Naming) PackageName(r Request, f Format) string {
	var b strings.Builder
	b.Grow(len(n.Template) + len(r.KernelVersion) + len(n.Prefix) + 16)
	t := n.Template
	for {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			b.WriteString(t)
			return b.String()
		}
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			b.WriteString(t)
			return b.String()
		}
		name := t[open+1 : open+end]
		expand, known := placeholders[name]
		if !known || !placeholderName(name) {
			// Not a placeholder: the brace is text, and a placeholder may
			// start after it.
			b.WriteString(t[:open+1])
			t = t[open+1:]
			continue
		}
		b.WriteString(t[:open])
		b.WriteString(expand(n, r, f))
		t = t[open+end+1:]
	}
}

// placeholderName is what placeholderRe accepts between the braces.
func placeholderName(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return s != ""
}

// ChecksumName is the name of the asset holding a package's sha256.
func ChecksumName(pkg string) string { return pkg + ".sha256" }

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsSHA256 reports whether s is a sha256 digest in lower-case hex.
func IsSHA256(s string) bool { return sha256Re.MatchString(s) }

// ParseChecksum reads the digest in a package's .sha256 asset: "HEX", or
// sha256sum's "HEX  NAME" (NAME may carry a directory, and a * for binary
// mode), where NAME is pkg. The digest comes back in lower-case hex.
func ParseChecksum(data, pkg string) (string, error) {
	line, _, _ := strings.Cut(data, "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 || !IsSHA256(strings.ToLower(fields[0])) {
		return "", fmt.Errorf("%s does not start with a sha256 in hex", ChecksumName(pkg))
	}
	if len(fields) > 1 && strings.TrimPrefix(path.Base(fields[1]), "*") != pkg {
		return "", fmt.Errorf("%s is the digest of %q", ChecksumName(pkg), fields[1])
	}
	return strings.ToLower(fields[0]), nil
}

// ReleaseURL is where a release URL prefix (https://github.com/OWNER/REPO/releases/download,
// or a mirror's) serves an asset of the release tag.
func ReleaseURL(prefix, tag, name string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + url.PathEscape(tag) + "/" + url.PathEscape(name)
}

// PackageName names the package of a normalized request in its
// distribution's format.
func (c *Catalog) PackageName(n Naming, r Request) (string, error) {
	f, err := c.Format(r.Distribution)
	if err != nil {
		return "", err
	}
	return n.PackageName(r, f), nil
}
