package kmod_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/loader/kmod"
)

func TestReadAndParse(t *testing.T) {
	t.Parallel()
	for _, c := range []string{fakedriver.ModuleCompressionNone, fakedriver.ModuleCompressionXZ, fakedriver.ModuleCompressionZstd} {
		t.Run("ko"+c, func(t *testing.T) {
			t.Parallel()
			ko := fakedriver.Module("6.1.0-31-arm64", "v0.4.0", "aarch64")
			b, err := fakedriver.CompressModule(ko, c)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), filepath.Base(fakedriver.ModulePath("6.1.0-31-arm64", c)))
			require.NoError(t, os.WriteFile(file, b, 0o600))

			ko2, err := kmod.Uncompressed(file, filepath.Join(t.TempDir(), "m.ko"))
			require.NoError(t, err)
			if c == fakedriver.ModuleCompressionNone {
				require.Equal(t, file, ko2, "an uncompressed module is used as it is")
			}
			image, err := os.ReadFile(ko2)
			require.NoError(t, err)
			require.Equal(t, ko, image)
			info, err := kmod.ParseFile(ko2)
			require.NoError(t, err)
			require.Equal(t, kmod.Info{
				Name: "riptides", Version: "v0.4.0", SrcVersion: "0123456789ABCDEF0123456",
				Vermagic: "6.1.0-31-arm64 SMP preempt mod_unload modversions aarch64", Machine: elf.EM_AARCH64,
			}, info)
			require.Equal(t, "6.1.0-31-arm64", info.Release())
			require.NoError(t, info.Check("6.1.0-31-arm64", "aarch64"))
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	info, err := kmod.Parse(bytes.NewReader(fakedriver.Module("6.8.0-1053-gcp", "v0.1.2", "x86_64")))
	require.NoError(t, err)
	for name, tc := range map[string]struct{ release, arch, want string }{
		"other release":       {"6.8.0-1054-gcp", "x86_64", `riptides has vermagic "6.8.0-1053-gcp SMP preempt mod_unload modversions", built for kernel "6.8.0-1053-gcp", but this node runs "6.8.0-1054-gcp"`},
		"release prefix only": {"6.8.0-1053", "x86_64", `this node runs "6.8.0-1053"`},
		"other machine":       {"6.8.0-1053-gcp", "aarch64", "riptides is an EM_X86_64 object, this node is aarch64"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := info.Check(tc.release, tc.arch)
			require.ErrorIs(t, err, kmod.ErrMismatch)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	_, err := kmod.Parse(strings.NewReader("\x7fELF but not really"))
	require.ErrorContains(t, err, "not an ELF object")

	self, err := os.Executable() // an ELF executable, not a relocatable object
	require.NoError(t, err)
	b, err := os.ReadFile(self)
	require.NoError(t, err)
	_, err = kmod.Parse(bytes.NewReader(b))
	require.ErrorContains(t, err, "not a kernel module: ELF type ET_EXEC")
}

// TestParseRefusesNames: a module's name becomes a file name and an
// argument to modprobe.
func TestParseRefusesNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../../etc/x", "a b", "a;b", "x\ny", strings.Repeat("a", 56)} {
		_, err := kmod.Parse(bytes.NewReader(fakedriver.ModuleWithName(name, "6.8.0-1053-gcp SMP", "v0.1.2", "x86_64")))
		require.ErrorContains(t, err, "accepted are 1 to 55 letters, digits, _ and -", name)
	}
	for _, name := range []string{"riptides", "riptides_net", "nvidia-drm", "-r", "A9", strings.Repeat("a", 55)} {
		info, err := kmod.Parse(bytes.NewReader(fakedriver.ModuleWithName(name, "6.8.0-1053-gcp SMP", "v0.1.2", "x86_64")))
		require.NoError(t, err, name)
		require.Equal(t, name, info.Name)
	}

	// Without a name in .modinfo the file's name is used, and checked too.
	dir := t.TempDir()
	for file, want := range map[string]string{"riptides-net.ko": "riptides_net", "a:b.ko": "", "a b.ko": ""} {
		f := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(f, fakedriver.ModuleWithName("", "6.8.0-1053-gcp SMP", "v0.1.2", "x86_64"), 0o600))
		info, err := kmod.ParseFile(f)
		if want == "" {
			require.ErrorContains(t, err, "module name", file)
			continue
		}
		require.NoError(t, err, file)
		require.Equal(t, want, info.Name)
	}
}

// TestUncompressedBounds: a compressed module may not make the loader
// allocate more than decompress.MaxWindow for its dictionary.
func TestUncompressedBounds(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed")
	}
	cmd := exec.Command("xz", "-c", "--check=crc32", "--lzma2=dict=256MiB")
	cmd.Stdin = bytes.NewReader(fakedriver.Module("6.8.0-1053-gcp", "v0.1.2", "x86_64"))
	b, err := cmd.Output()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "riptides.ko.xz")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	_, err = kmod.Uncompressed(file, filepath.Join(t.TempDir(), "m.ko"))
	require.ErrorContains(t, err, "compression window over the limit")
}

func TestNameFromFile(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"/x/riptides.ko":       "riptides",
		"riptides-net.ko.zst":  "riptides_net",
		"a/b/nvidia-drm.ko.xz": "nvidia_drm",
	} {
		require.Equal(t, want, kmod.NameFromFile(file))
	}
}

func TestSystemLoaded(t *testing.T) {
	t.Parallel()
	sys := t.TempDir()
	mkmod := func(name string, files map[string]string) {
		dir := filepath.Join(sys, "module", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for f, v := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o644))
		}
	}
	mkmod("riptides", map[string]string{"initstate": "live", "version": "v0.1.2", "srcversion": "ABC"})
	mkmod("nover", map[string]string{"initstate": "live"})
	mkmod("builtin", map[string]string{"version": "1.0"})
	mkmod("params_only", map[string]string{})

	k := kmod.System{SysFS: sys}
	for name, tc := range map[string]struct {
		want kmod.Loaded
		ok   bool
	}{
		"riptides":    {kmod.Loaded{Name: "riptides", Version: "v0.1.2", SrcVersion: "ABC"}, true},
		"nover":       {kmod.Loaded{Name: "nover"}, true},
		"builtin":     {kmod.Loaded{Name: "builtin", Version: "1.0", Builtin: true}, true},
		"params_only": {kmod.Loaded{}, false},
		"absent":      {kmod.Loaded{}, false},
	} {
		got, ok, err := k.Loaded(name)
		require.NoError(t, err, name)
		require.Equal(t, tc.ok, ok, name)
		require.Equal(t, tc.want, got, name)
	}
	_, _, err := k.Loaded("../../etc")
	require.Error(t, err)
}
