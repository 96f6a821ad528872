// Package fakedriver builds real driver packages for tests: a .deb or .rpm,
// made by nfpm, that installs a stand-in riptides kernel module for one
// kernel release. The module is a valid ELF relocatable object with a
// .modinfo section, so anything that reads vermagic, name and version reads
// them from it; it holds no code and cannot be loaded into a real kernel.
package fakedriver

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/kernel"
)

// ModuleName is the module's name, as in .modinfo and /proc/modules.
const ModuleName = "riptides"

// DefaultPackageName is the package name (not the file name) used when a
// Spec names none.
const DefaultPackageName = "riptides-driver"

// Module compressions: how the .ko inside the package is compressed, as
// kernels built with CONFIG_MODULE_COMPRESS_* ship them.
const (
	ModuleCompressionNone = ""
	ModuleCompressionXZ   = "xz"
	ModuleCompressionZstd = "zstd"
)

// Spec describes one package.
type Spec struct {
	Format        kernel.Format // deb or rpm
	Name          string        // package name; DefaultPackageName when empty
	KernelRelease string        // e.g. 6.8.0-1053-gcp
	DriverVersion string        // e.g. v0.1.2; the package version drops the v
	Arch          string        // x86_64 or aarch64 (amd64, arm64 accepted)
	// Compression of the package payload: gzip (default), xz or zstd; deb
	// also takes none.
	Compression string
	// ModuleCompression of the .ko: ModuleCompressionNone, XZ or Zstd.
	ModuleCompression string
	// Vermagic overrides the module's vermagic; empty means the one a
	// kernel of KernelRelease expects (see Vermagic).
	Vermagic string
	// ModuleName overrides the name in the module's .modinfo (the file is
	// still riptides.ko); empty means ModuleName.
	ModuleName string
}

// ModulePath is where a package of Spec installs its module:
// /lib/modules/<release>/extra/riptides.ko, with .xz or .zst appended for a
// compressed module.
func ModulePath(release, moduleCompression string) string {
	p := "/lib/modules/" + release + "/extra/" + ModuleName + ".ko"
	switch moduleCompression {
	case ModuleCompressionXZ:
		p += ".xz"
	case ModuleCompressionZstd:
		p += ".zst"
	}
	return p
}

// CompressModule compresses a .ko as the kernel's module loader expects:
// xz with CRC32 checks, or zstd.
func CompressModule(ko []byte, compression string) ([]byte, error) {
	var buf bytes.Buffer
	switch compression {
	case ModuleCompressionNone:
		return ko, nil
	case ModuleCompressionXZ:
		w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(ko); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case ModuleCompressionZstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(ko); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("module compression %q: accepted are none (empty), xz and zstd", compression)
	}
	return buf.Bytes(), nil
}

// mtime is fixed so that one Spec always gives the same bytes, and so the
// same sha256.
var mtime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Package builds the package a Spec describes and returns its bytes.
func Package(s Spec) ([]byte, error) {
	if s.Format != kernel.FormatDeb && s.Format != kernel.FormatRPM {
		return nil, fmt.Errorf("format %q: accepted are deb and rpm", s.Format)
	}
	if err := kernel.ValidateRelease(s.KernelRelease); err != nil {
		return nil, err
	}
	if err := kernel.ValidateDriverVersion(s.DriverVersion); err != nil {
		return nil, err
	}
	if s.Format == kernel.FormatRPM && s.Compression == "none" {
		return nil, fmt.Errorf("rpm compression %q: accepted are gzip, xz and zstd", s.Compression)
	}
	arch, err := kernel.NormalizeArch(s.Arch)
	if err != nil {
		return nil, err
	}
	vermagic := s.Vermagic
	if vermagic == "" {
		vermagic = Vermagic(s.KernelRelease, arch)
	}
	ko, err := CompressModule(ModuleWithName(cmp.Or(s.ModuleName, ModuleName), vermagic, s.DriverVersion, arch), s.ModuleCompression)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "fakedriver-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "module")
	if err := os.WriteFile(src, ko, 0o644); err != nil {
		return nil, err
	}

	name := s.Name
	if name == "" {
		name = DefaultPackageName
	}
	info := &nfpm.Info{
		Name:        name,
		Arch:        kernel.PkgArch(arch), // nfpm maps amd64/arm64 to rpm's spelling
		Platform:    "linux",
		Version:     s.DriverVersion,
		Release:     "1",
		Maintainer:  "driverbuild <driverbuild@example.com>",
		Description: "riptides driver for Linux " + s.KernelRelease + " (test fixture)",
		License:     "GPL-2.0",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{{
				Source:      src,
				Destination: ModulePath(s.KernelRelease, s.ModuleCompression),
				FileInfo:    &files.ContentFileInfo{Mode: 0o644, MTime: mtime},
			}},
			Deb: nfpm.Deb{Compression: s.Compression},
			RPM: nfpm.RPM{Compression: s.Compression, BuildHost: "fakedriver"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return nil, fmt.Errorf("package info: %w", err)
	}
	var buf bytes.Buffer
	if s.Format == kernel.FormatDeb {
		err = deb.Default.Package(info, &buf)
	} else {
		err = rpm.DefaultRPM.Package(info, &buf)
	}
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", s.Format, err)
	}
	return buf.Bytes(), nil
}

// MustPackage is Package for tests: it fails t on error.
func MustPackage(t interface {
	Helper()
	Fatalf(string, ...any)
}, s Spec) []byte {
	t.Helper()
	b, err := Package(s)
	if err != nil {
		t.Fatalf("fakedriver: %v", err)
	}
	return b
}
