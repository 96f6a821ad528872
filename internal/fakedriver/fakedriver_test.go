package fakedriver_test

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	rpmutils "github.com/sassoftware/go-rpmutils"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
)

func modinfo(t *testing.T, ko []byte) (elf.Machine, map[string]string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(ko))
	require.NoError(t, err)
	require.Equal(t, elf.ET_REL, f.Type)
	s := f.Section(".modinfo")
	require.NotNil(t, s, "no .modinfo section")
	data, err := s.Data()
	require.NoError(t, err)
	info := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(data), "\x00"), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, "modinfo entry %q", kv)
		info[k] = v
	}
	return f.Machine, info
}

func TestModule(t *testing.T) {
	t.Parallel()
	for arch, want := range map[string]struct {
		machine  elf.Machine
		vermagic string
	}{
		"x86_64":  {elf.EM_X86_64, "6.8.0-1053-gcp SMP preempt mod_unload modversions"},
		"amd64":   {elf.EM_X86_64, "6.8.0-1053-gcp SMP preempt mod_unload modversions"},
		"aarch64": {elf.EM_AARCH64, "6.8.0-1053-gcp SMP preempt mod_unload modversions aarch64"},
	} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			m, info := modinfo(t, fakedriver.Module("6.8.0-1053-gcp", "v0.1.2", arch))
			require.Equal(t, want.machine, m)
			require.Equal(t, "riptides", info["name"])
			require.Equal(t, "v0.1.2", info["version"])
			require.Equal(t, want.vermagic, info["vermagic"])
		})
	}
}

func TestCompressModule(t *testing.T) {
	t.Parallel()
	ko := fakedriver.Module("6.1.0-31-amd64", "v1.0.0", "x86_64")
	for _, c := range []string{fakedriver.ModuleCompressionNone, fakedriver.ModuleCompressionXZ, fakedriver.ModuleCompressionZstd} {
		b, err := fakedriver.CompressModule(ko, c)
		require.NoError(t, err)
		require.Equal(t, ko, decompress(t, c, b), c)
	}
	_, err := fakedriver.CompressModule(ko, "bzip2")
	require.ErrorContains(t, err, "accepted are")
}

func decompress(t *testing.T, c string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch c {
	case fakedriver.ModuleCompressionXZ:
		xr, err := xz.NewReader(r)
		require.NoError(t, err)
		r = xr
	case fakedriver.ModuleCompressionZstd:
		zr, err := zstd.NewReader(r)
		require.NoError(t, err)
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

func TestPackageRPM(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"gzip", "xz", "zstd"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			const release = "6.15.5-200.fc42.aarch64"
			b, err := fakedriver.Package(fakedriver.Spec{
				Format: kernel.FormatRPM, KernelRelease: release, DriverVersion: "v0.2.0-rc.1",
				Arch: "aarch64", Compression: c, ModuleCompression: fakedriver.ModuleCompressionXZ,
			})
			require.NoError(t, err)
			again, err := fakedriver.Package(fakedriver.Spec{
				Format: kernel.FormatRPM, KernelRelease: release, DriverVersion: "v0.2.0-rc.1",
				Arch: "aarch64", Compression: c, ModuleCompression: fakedriver.ModuleCompressionXZ,
			})
			require.NoError(t, err)
			require.Equal(t, b, again, "the same spec must give the same bytes")

			r, err := rpmutils.ReadRpm(bytes.NewReader(b))
			require.NoError(t, err)
			arch, err := r.Header.GetString(rpmutils.ARCH)
			require.NoError(t, err)
			require.Equal(t, "aarch64", arch)
			comp, err := r.Header.GetString(rpmutils.PAYLOADCOMPRESSOR)
			require.NoError(t, err)
			require.Equal(t, map[string]string{"gzip": "gzip", "xz": "xz", "zstd": "zstd"}[c], comp)

			pr, err := r.PayloadReaderExtended()
			require.NoError(t, err)
			var found bool
			for {
				fi, err := pr.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				if fi.Name() != fakedriver.ModulePath(release, fakedriver.ModuleCompressionXZ) {
					continue
				}
				found = true
				data, err := io.ReadAll(pr)
				require.NoError(t, err)
				m, info := modinfo(t, decompress(t, fakedriver.ModuleCompressionXZ, data))
				require.Equal(t, elf.EM_AARCH64, m)
				require.Equal(t, "v0.2.0-rc.1", info["version"])
			}
			require.True(t, found, "module not in payload")
		})
	}
}

func TestPackageDeb(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	for _, c := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			const release = "6.8.0-1053-gcp"
			b := fakedriver.MustPackage(t, fakedriver.Spec{
				Format: kernel.FormatDeb, KernelRelease: release, DriverVersion: "v0.1.2",
				Arch: "x86_64", Compression: c, ModuleCompression: fakedriver.ModuleCompressionZstd,
			})
			dir := t.TempDir()
			pkg := filepath.Join(dir, "p.deb")
			require.NoError(t, os.WriteFile(pkg, b, 0o644))

			out, err := exec.Command("dpkg-deb", "--field", pkg, "Package", "Version", "Architecture").CombinedOutput()
			require.NoError(t, err, string(out))
			require.Equal(t, "Package: riptides-driver\nVersion: 0.1.2-1\nArchitecture: amd64\n", string(out))

			out, err = exec.Command("dpkg-deb", "-x", pkg, filepath.Join(dir, "root")).CombinedOutput()
			require.NoError(t, err, string(out))
			data, err := os.ReadFile(filepath.Join(dir, "root", fakedriver.ModulePath(release, fakedriver.ModuleCompressionZstd)))
			require.NoError(t, err)
			_, info := modinfo(t, decompress(t, fakedriver.ModuleCompressionZstd, data))
			require.Equal(t, fakedriver.Vermagic(release, "x86_64"), info["vermagic"])
		})
	}
}

func TestPackageRejects(t *testing.T) {
	t.Parallel()
	good := fakedriver.Spec{Format: kernel.FormatDeb, KernelRelease: "6.1.0-31-amd64", DriverVersion: "v1.0.0", Arch: "x86_64"}
	for name, tc := range map[string]struct {
		mod  func(*fakedriver.Spec)
		want string
	}{
		"format":             {func(s *fakedriver.Spec) { s.Format = "apk" }, "accepted are deb and rpm"},
		"release":            {func(s *fakedriver.Spec) { s.KernelRelease = "../etc" }, "kernel_version"},
		"driver version":     {func(s *fakedriver.Spec) { s.DriverVersion = "1.0" }, "driver_version"},
		"arch":               {func(s *fakedriver.Spec) { s.Arch = "riscv64" }, "architecture"},
		"rpm without comp":   {func(s *fakedriver.Spec) { s.Format, s.Compression = kernel.FormatRPM, "none" }, "accepted are gzip, xz and zstd"},
		"module compression": {func(s *fakedriver.Spec) { s.ModuleCompression = "lz4" }, "module compression"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := good
			tc.mod(&s)
			_, err := fakedriver.Package(s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
