// Package kernel is the pure domain shared by the build-service, the
// driver-loader and matrix-gen: what a valid build request is, which distro
// version a kernel release belongs to, what its package is called, and the
// cache key that identifies one build. It imports nothing of ours.
package kernel

import (
	"fmt"
	"regexp"
)

// MaxReleaseLen bounds a kernel release; uname's field is 65 bytes, so 128
// leaves room for vendor suffixes while refusing megabyte strings.
const MaxReleaseLen = 128

// Architectures as uname -m prints them.
const (
	ArchX86_64  = "x86_64"
	ArchAarch64 = "aarch64"
)

// FieldError says which request field was wrong, what was wrong with it and
// what would have been accepted.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// These strings reach workflow inputs and shell scripts, so each is an
// allow-list: anything not matched is refused.
var (
	driverRe = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
)

// MaxDriverVersionLen bounds a driver version tag.
const MaxDriverVersionLen = 64

// releaseSyntax matches ^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$, by hand: it runs
// on every request and every matrix row, and the expression cost five
// times this. TestReleaseSyntax holds it to the expression.
func releaseSyntax(r string) bool {
	i := digits(r, 0)
	if i == 0 || i == len(r) || r[i] != '.' {
		return false
	}
	j := digits(r, i+1)
	if j == i+1 {
		return false
	}
	for ; j < len(r); j++ {
		switch c := r[j]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '+', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}

// digits returns the index after the ASCII digits of s from i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ValidateRelease checks a kernel release as uname -r prints it.
func ValidateRelease(r string) error {
	if r == "" {
		return fieldErr("kernel_version", "is required: a kernel release as `uname -r` prints it, e.g. 6.8.0-1053-gcp")
	}
	if len(r) > MaxReleaseLen {
		return fieldErr("kernel_version", "is %d bytes long; at most %d are accepted", len(r), MaxReleaseLen)
	}
	if !releaseSyntax(r) {
		return fieldErr("kernel_version", "%s is not a kernel release: it must start with N.N and contain only letters, digits and . - _ + ~", quote(r))
	}
	return nil
}

// ValidateDriverVersion checks a driver release tag, vMAJOR.MINOR.PATCH[-prerelease].
func ValidateDriverVersion(v string) error {
	if v == "" {
		return fieldErr("driver_version", "is required: a release tag such as v0.1.2")
	}
	if len(v) > MaxDriverVersionLen || !driverRe.MatchString(v) {
		return fieldErr("driver_version", "%s is not a driver version: accepted is vMAJOR.MINOR.PATCH with an optional -prerelease, e.g. v0.1.2 or v0.2.0-rc.1", quote(v))
	}
	return nil
}

// NormalizeArch maps uname -m and Go/Debian spellings to uname -m's.
func NormalizeArch(a string) (string, error) {
	switch a {
	case ArchX86_64, "amd64":
		return ArchX86_64, nil
	case ArchAarch64, "arm64":
		return ArchAarch64, nil
	case "":
		return "", fieldErr("architecture", "is required: x86_64 or aarch64 (amd64 and arm64 are accepted too)")
	}
	return "", fieldErr("architecture", "%s is not supported: accepted are x86_64 and aarch64 (or amd64 and arm64)", quote(a))
}

// PkgArch is the architecture as package names spell it: amd64 or arm64.
func PkgArch(arch string) string {
	if arch == ArchAarch64 {
		return "arm64"
	}
	return "amd64"
}

// quote shows a hostile value safely in a message: short, printable, quoted.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}
