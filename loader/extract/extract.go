// Package extract takes the kernel modules out of a driver package (.deb or
// .rpm) in pure Go, without a package manager. Packages are hostile input:
// entries that escape the work dir, links that point outside the package,
// device files, oversized entries, a foreign architecture and truncated
// archives are refused, and nothing is written outside the work dir.
package extract

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/internal/decompress"
)

// Why a package was refused; the returned errors wrap one of these.
var (
	ErrUnsafePath  = errors.New("unsafe path")
	ErrUnsafeLink  = errors.New("link points outside the package")
	ErrSpecialFile = errors.New("special file")
	ErrTooLarge    = errors.New("over the size limit")
	ErrWrongArch   = errors.New("wrong architecture")
	ErrTruncated   = errors.New("truncated archive")
	ErrMalformed   = errors.New("malformed archive")
)

// Limits bound what one package may hold.
type Limits struct {
	MaxEntries   int   // entries in the payload
	MaxFileSize  int64 // bytes in one file
	MaxTotalSize int64 // bytes of decompressed payload
}

// DefaultLimits are generous for a driver package and small for a bomb.
var DefaultLimits = Limits{MaxEntries: 10_000, MaxFileSize: 64 << 20, MaxTotalSize: 1 << 30}

// Options say what the package must be.
type Options struct {
	// Arch is the node's architecture (x86_64 or aarch64); a package built
	// for another is refused. Empty skips the check.
	Arch   string
	Limits Limits // zero means DefaultLimits
}

// Result is what was extracted.
type Result struct {
	// Modules are the extracted kernel modules (.ko, .ko.xz, .ko.zst,
	// .ko.gz), as paths inside the work dir, in package order.
	Modules []string
	// Arch is the architecture the package declares.
	Arch string
}

// Package extracts the modules of a package of format f, read from r,
// into dir.
func Package(r io.Reader, f kernel.Format, dir string, opts Options) (Result, error) {
	switch f {
	case kernel.FormatDeb:
		return Deb(r, dir, opts)
	case kernel.FormatRPM:
		return RPM(r, dir, opts)
	}
	return Result{}, fmt.Errorf("package format %q: accepted are deb and rpm", f)
}

// IsModule reports whether a file name is a kernel module, compressed or not.
func IsModule(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

type kind int

const (
	kindRegular kind = iota
	kindDir
	kindSymlink
	kindHardlink
	kindSpecial
)

// entry is one archive member, whatever the archive format.
type entry struct {
	name     string
	kind     kind
	linkname string
	size     int64
}

// sink checks every entry and writes the modules into its root.
type sink struct {
	root    *os.Root
	dir     string
	limits  Limits
	entries int
	written int64 // bytes written, against MaxTotalSize
	modules []string
}

func newSink(dir string, opts Options) (*sink, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open work dir: %w", err)
	}
	l := opts.Limits
	if l == (Limits{}) {
		l = DefaultLimits
	}
	return &sink{root: root, dir: dir, limits: l}, nil
}

func (s *sink) close() error { return s.root.Close() }

// localName turns an archive name into a relative path, refusing absolute
// paths and any .. component.
func localName(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	switch {
	case n == "" || n == ".":
		return ".", nil
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("%w: %q is absolute", ErrUnsafePath, name)
	case strings.ContainsRune(n, 0):
		return "", fmt.Errorf("%w: %q contains NUL", ErrUnsafePath, name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q climbs out through a \"..\" part", ErrUnsafePath, name)
		}
	}
	return path.Clean(n), nil
}

// add checks one entry and, for a module, writes its data.
func (s *sink) add(e entry, data io.Reader) error {
	if s.entries++; s.entries > s.limits.MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrTooLarge, s.limits.MaxEntries)
	}
	name, err := localName(e.name)
	if err != nil {
		return err
	}
	switch e.kind {
	case kindDir:
		return nil // parents are made as modules need them
	case kindSymlink:
		target := path.Join(path.Dir(name), e.linkname)
		if path.IsAbs(e.linkname) || !filepath.IsLocal(target) {
			return fmt.Errorf("%w: symlink %q -> %q", ErrUnsafeLink, e.name, e.linkname)
		}
		return moduleLink(name, target) // links are checked, never made
	case kindHardlink:
		target, err := localName(e.linkname)
		if err != nil {
			return fmt.Errorf("%w: hard link %q -> %q", ErrUnsafeLink, e.name, e.linkname)
		}
		return moduleLink(name, target)
	case kindSpecial:
		return fmt.Errorf("%w: %q is a device, fifo or socket", ErrSpecialFile, e.name)
	}
	if e.size < 0 || e.size > s.limits.MaxFileSize {
		return fmt.Errorf("%w: %q is %d bytes, at most %d are accepted", ErrTooLarge, e.name, e.size, s.limits.MaxFileSize)
	}
	if !IsModule(name) {
		return nil
	}
	return s.write(name, e.size, data)
}

// moduleLink refuses a module that is a link to anything but a module:
// links are not made, so the module would be missed without a word.
func moduleLink(name, target string) error {
	if IsModule(name) && !IsModule(target) {
		return fmt.Errorf("%w: module %q is a link to %q, which is not a module", ErrMalformed, name, target)
	}
	return nil
}

func (s *sink) write(name string, size int64, data io.Reader) error {
	// What is written counts against the total on its own: the payload's
	// cap counts what was read, which an entry could outgrow.
	if size > s.limits.MaxTotalSize-s.written {
		return fmt.Errorf("%w: %q would take what is written past %d bytes", ErrTooLarge, name, s.limits.MaxTotalSize)
	}
	if dir := path.Dir(name); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("make %s: %w", dir, err)
		}
	}
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %q appears twice", ErrMalformed, name)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	n, err := io.Copy(f, io.LimitReader(data, size))
	s.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return archiveErr(fmt.Sprintf("write %s", name), err)
	}
	if n != size {
		return fmt.Errorf("%w: %q has %d of its %d bytes", ErrTruncated, name, n, size)
	}
	s.modules = append(s.modules, filepath.Join(s.dir, filepath.FromSlash(name)))
	return nil
}

// archiveErr classifies an error from reading an archive: an early end is
// ErrTruncated, anything else a reader refuses is ErrMalformed; errors
// that already say why are kept.
func archiveErr(what string, err error) error {
	for _, known := range []error{ErrUnsafePath, ErrUnsafeLink, ErrSpecialFile, ErrTooLarge, ErrWrongArch, ErrTruncated, ErrMalformed} {
		if errors.Is(err, known) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if errors.Is(err, decompress.ErrWindow) {
		return fmt.Errorf("%s: %w: %v", what, ErrTooLarge, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w (%v)", what, ErrTruncated, err)
	}
	return fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
}

// exact reads exactly n bytes of r, reporting an early end as
// ErrTruncated, which decompressors pass on.
type exact struct {
	r io.Reader
	n int64
}

func (e *exact) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		err = ErrTruncated
	}
	return n, err
}

// capped fails once more than max bytes were read: the decompressed
// payload of a bomb stops here.
type capped struct {
	r   io.Reader
	max int64
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.max -= int64(n); c.max < 0 {
		return n, fmt.Errorf("%w: the decompressed payload is larger than the limit", ErrTooLarge)
	}
	return n, err
}

// drain reads a decompressed stream to its end after the archive in it
// ended, so that a cut-off package fails its compression's checksum or
// length check instead of passing for whole.
func drain(what string, r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return archiveErr(what, err)
	}
	return nil
}

// checkArch compares a package's architecture with the node's.
func checkArch(declared, want string) error {
	if want == "" {
		return nil
	}
	a, err := kernel.NormalizeArch(declared)
	if err != nil || a != want {
		return fmt.Errorf("%w: the package is for %q, this node is %s", ErrWrongArch, declared, want)
	}
	return nil
}
