// Package kmod reads kernel modules (their .modinfo: name, version,
// vermagic) and loads and unloads them through a small Kernel interface,
// so that tests record the system calls instead of making them.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/internal/decompress"
)

// ErrMismatch is a module that was not built for the running kernel or
// architecture.
var ErrMismatch = errors.New("module does not match the running kernel")

// MaxModuleSize bounds a decompressed module; the largest modules of a
// distribution kernel are a few MiB.
const MaxModuleSize = 64 << 20

// maxModinfo bounds the .modinfo section, a few hundred bytes.
const maxModinfo = 1 << 20

// Info is what a module says about itself in .modinfo.
type Info struct {
	Name       string
	Version    string
	SrcVersion string
	Vermagic   string
	Depends    []string
	Machine    elf.Machine
}

// Release is the kernel release the module was built for: vermagic's
// first word.
func (i Info) Release() string {
	r, _, _ := strings.Cut(i.Vermagic, " ")
	return r
}

// Check refuses a module built for another kernel release or machine.
// The kernel compares more of vermagic (SMP, preempt, ...), but modules for
// one release of a distribution kernel share those.
func (i Info) Check(release, arch string) error {
	if i.Release() != release {
		return fmt.Errorf("%w: %s has vermagic %q, built for kernel %q, but this node runs %q", ErrMismatch, i.Name, i.Vermagic, i.Release(), release)
	}
	want := elf.EM_X86_64
	if arch == kernel.ArchAarch64 {
		want = elf.EM_AARCH64
	}
	if i.Machine != want {
		return fmt.Errorf("%w: %s is an %s object, this node is %s", ErrMismatch, i.Name, i.Machine, arch)
	}
	return nil
}

// Uncompressed is a module file finit_module can take: file itself when
// it is a .ko, else its image decompressed into dst (.ko.xz, .ko.zst,
// .ko.gz), at most MaxModuleSize bytes.
func Uncompressed(file, dst string) (string, error) {
	algo := decompress.ByExt(file)
	if algo == "none" {
		return file, nil
	}
	in, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer in.Close()
	r, err := decompress.Reader(algo, in)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(out, io.LimitReader(r, MaxModuleSize+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", file, err)
	case n > MaxModuleSize:
		return "", fmt.Errorf("%s: larger than %d bytes decompressed", file, MaxModuleSize)
	}
	return dst, nil
}

// ParseFile reads the .modinfo of an uncompressed module file, without
// reading the rest of it into memory. A module without a name in .modinfo
// is named after its file, as the kernel names it.
func ParseFile(file string) (Info, error) {
	f, err := os.Open(file)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	info, err := Parse(f)
	if err != nil {
		return Info{}, err
	}
	if info.Name == "" {
		info.Name = NameFromFile(file)
		if err := ValidName(info.Name); err != nil {
			return Info{}, err
		}
	}
	return info, nil
}

// nameRe is what a module name may be: it becomes a file name and an
// argument to modprobe, and the kernel keeps 55 bytes of it.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,55}$`)

// ValidName refuses a module name that is not letters, digits, _ and -,
// of 1 to 55 bytes.
func ValidName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("module name %q: accepted are 1 to 55 letters, digits, _ and -", name)
	}
	return nil
}

// Parse reads a module image's .modinfo section.
func Parse(image io.ReaderAt) (Info, error) {
	f, err := elf.NewFile(image)
	if err != nil {
		return Info{}, fmt.Errorf("not an ELF object: %w", err)
	}
	if f.Type != elf.ET_REL {
		return Info{}, fmt.Errorf("not a kernel module: ELF type %s, want %s", f.Type, elf.ET_REL)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return Info{}, errors.New("not a kernel module: no .modinfo section")
	}
	if s.Size > maxModinfo {
		return Info{}, fmt.Errorf(".modinfo of %d bytes, at most %d are accepted", s.Size, maxModinfo)
	}
	data, err := s.Data()
	if err != nil {
		return Info{}, fmt.Errorf(".modinfo: %w", err)
	}
	info := Info{Machine: f.Machine}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			info.Name = v
		case "version":
			info.Version = v
		case "srcversion":
			info.SrcVersion = v
		case "vermagic":
			info.Vermagic = v
		case "depends":
			if v != "" {
				info.Depends = strings.Split(v, ",")
			}
		}
	}
	if info.Vermagic == "" {
		return Info{}, errors.New("not a kernel module: .modinfo has no vermagic")
	}
	if info.Name != "" {
		if err := ValidName(info.Name); err != nil {
			return Info{}, err
		}
	}
	return info, nil
}

// NameFromFile is the module name a file implies when .modinfo has none:
// the base name without .ko*, with - spelled _ as the kernel does.
func NameFromFile(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
