// Package kmod reads kernel modules (their .modinfo: name, version,
// vermagic) and loads and unloads them through a small Kernel interface,
// so that tests record the system calls instead of making them.
package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/kernel"
)

// ErrMismatch is a module that was not built for the running kernel or
// architecture.
var ErrMismatch = errors.New("module does not match the running kernel")

// MaxModuleSize bounds a decompressed module.
const MaxModuleSize = 256 << 20

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

// Read returns the ELF image of a module file, decompressing .ko.xz,
// .ko.zst and .ko.gz.
func Read(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch filepath.Ext(file) {
	case ".xz":
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r = xr
	case ".zst":
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case ".gz":
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r = gr
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, MaxModuleSize)
	}
	return b, nil
}

// Parse reads a module image's .modinfo section.
func Parse(image []byte) (Info, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
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
