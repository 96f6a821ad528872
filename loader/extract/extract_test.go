package extract_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/extract"
)

const release = "6.8.0-1053-gcp"

func run(t *testing.T, f kernel.Format, pkg []byte, opts extract.Options) (extract.Result, string, error) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "work")
	require.NoError(t, os.Mkdir(dir, 0o700))
	res, err := extract.Package(bytes.NewReader(pkg), f, dir, opts)
	// Whatever happened, nothing was written beside the work dir.
	names, rerr := os.ReadDir(parent)
	require.NoError(t, rerr)
	require.Len(t, names, 1, "only the work dir")
	return res, dir, err
}

func decompressed(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	switch {
	case strings.HasSuffix(file, ".xz"):
		r, err := xz.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		b, err = io.ReadAll(r)
		require.NoError(t, err)
	case strings.HasSuffix(file, ".zst"):
		r, err := zstd.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		defer r.Close()
		b, err = io.ReadAll(r)
		require.NoError(t, err)
	}
	return b
}

func TestExtractRealPackages(t *testing.T) {
	t.Parallel()
	for _, f := range []kernel.Format{kernel.FormatDeb, kernel.FormatRPM} {
		comps := []string{"gzip", "xz", "zstd"}
		if f == kernel.FormatDeb {
			comps = append(comps, "none")
		}
		for _, c := range comps {
			for _, mc := range []string{fakedriver.ModuleCompressionNone, fakedriver.ModuleCompressionXZ, fakedriver.ModuleCompressionZstd} {
				for _, arch := range []string{"x86_64", "aarch64"} {
					t.Run(strings.Join([]string{string(f), c, "ko" + mc, arch}, "/"), func(t *testing.T) {
						t.Parallel()
						pkg := fakedriver.MustPackage(t, fakedriver.Spec{
							Format: f, KernelRelease: release, DriverVersion: "v0.1.2", Arch: arch,
							Compression: c, ModuleCompression: mc,
						})
						res, dir, err := run(t, f, pkg, extract.Options{Arch: arch})
						require.NoError(t, err)
						want := filepath.Join(dir, fakedriver.ModulePath(release, mc))
						require.Equal(t, []string{want}, res.Modules)
						require.Equal(t, fakedriver.Module(release, "v0.1.2", arch), decompressed(t, want))
						require.Equal(t, map[string]string{"x86_64": map[kernel.Format]string{"deb": "amd64", "rpm": "x86_64"}[f], "aarch64": map[kernel.Format]string{"deb": "arm64", "rpm": "aarch64"}[f]}[arch], res.Arch)
					})
				}
			}
		}
	}
}

// TestExtractDpkgDeb reads packages that dpkg-deb itself built.
func TestExtractDpkgDeb(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	for _, c := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			ko := fakedriver.Module(release, "v0.3.0", "x86_64")
			mod := filepath.Join(src, fakedriver.ModulePath(release, ""))
			require.NoError(t, os.MkdirAll(filepath.Dir(mod), 0o755))
			require.NoError(t, os.WriteFile(mod, ko, 0o644))
			require.NoError(t, os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(src, "DEBIAN", "control"), []byte(
				"Package: riptides-driver\nVersion: 0.3.0\nArchitecture: amd64\nMaintainer: t <t@example.com>\nDescription: test\n"), 0o644))
			out := filepath.Join(t.TempDir(), "p.deb")
			b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+c, "--build", src, out).CombinedOutput()
			require.NoError(t, err, string(b))
			pkg, err := os.ReadFile(out)
			require.NoError(t, err)

			res, dir, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64"})
			require.NoError(t, err)
			require.Equal(t, []string{filepath.Join(dir, fakedriver.ModulePath(release, ""))}, res.Modules)
			require.Equal(t, ko, decompressed(t, res.Modules[0]))
		})
	}
}

func TestExtractRefusesHostileDeb(t *testing.T) {
	t.Parallel()
	ko := fakedriver.Module(release, "v0.1.2", "x86_64")
	small := extract.Limits{MaxEntries: 10, MaxFileSize: 1 << 20, MaxTotalSize: 2 << 20}
	for name, tc := range map[string]struct {
		arch    string
		members []member
		limits  extract.Limits
		want    error
	}{
		"dot-dot path":          {members: []member{{name: "./lib/../../etc/evil.ko", typ: tar.TypeReg, data: ko}}, want: extract.ErrUnsafePath},
		"leading dot-dot":       {members: []member{{name: "../evil.ko", typ: tar.TypeReg, data: ko}}, want: extract.ErrUnsafePath},
		"absolute path":         {members: []member{{name: "/etc/evil.ko", typ: tar.TypeReg, data: ko}}, want: extract.ErrUnsafePath},
		"absolute symlink":      {members: []member{{name: "./lib/modules", typ: tar.TypeSymlink, linkname: "/etc"}}, want: extract.ErrUnsafeLink},
		"symlink climbing out":  {members: []member{{name: "./lib/modules/x", typ: tar.TypeSymlink, linkname: "../../../etc"}}, want: extract.ErrUnsafeLink},
		"hardlink climbing out": {members: []member{{name: "./lib/evil.ko", typ: tar.TypeLink, linkname: "../../etc/shadow"}}, want: extract.ErrUnsafeLink},
		"absolute hardlink":     {members: []member{{name: "./lib/evil.ko", typ: tar.TypeLink, linkname: "/etc/shadow"}}, want: extract.ErrUnsafeLink},
		"char device":           {members: []member{{name: "./dev/mem", typ: tar.TypeChar}}, want: extract.ErrSpecialFile},
		"block device":          {members: []member{{name: "./dev/sda", typ: tar.TypeBlock}}, want: extract.ErrSpecialFile},
		"fifo":                  {members: []member{{name: "./run/pipe", typ: tar.TypeFifo}}, want: extract.ErrSpecialFile},
		"file over the limit":   {members: []member{{name: "./big.ko", typ: tar.TypeReg, data: make([]byte, 1<<20+1)}}, limits: small, want: extract.ErrTooLarge},
		"decompression bomb": {
			members: []member{
				{name: "./a", typ: tar.TypeReg, data: make([]byte, 1<<20)}, {name: "./b", typ: tar.TypeReg, data: make([]byte, 1<<20)},
				{name: "./c", typ: tar.TypeReg, data: make([]byte, 1<<20)},
			},
			limits: small, want: extract.ErrTooLarge,
		},
		"too many entries": {members: manyDirs(11), limits: small, want: extract.ErrTooLarge},
		"module as a symlink out": {
			members: []member{{name: "./lib/modules/" + release + "/extra/riptides.ko", typ: tar.TypeSymlink, linkname: "/lib/modules/" + release + "/kernel/evil.ko"}},
			want:    extract.ErrUnsafeLink,
		},
		"module as a symlink to a non-module": {
			members: []member{
				{name: "./usr/share/blob", typ: tar.TypeReg, data: ko},
				{name: "./lib/modules/" + release + "/extra/riptides.ko", typ: tar.TypeSymlink, linkname: "../../../../usr/share/blob"},
			},
			want: extract.ErrMalformed,
		},
		"module as a hard link to a non-module": {
			members: []member{
				{name: "./usr/share/blob", typ: tar.TypeReg, data: ko},
				{name: "./lib/modules/" + release + "/extra/riptides.ko", typ: tar.TypeLink, linkname: "./usr/share/blob"},
			},
			want: extract.ErrMalformed,
		},
		"wrong arch": {arch: "arm64", members: []member{{name: "./x.ko", typ: tar.TypeReg, data: ko}}, want: extract.ErrWrongArch},
		"arch all":   {arch: "all", members: []member{{name: "./x.ko", typ: tar.TypeReg, data: ko}}, want: extract.ErrWrongArch},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			arch := tc.arch
			if arch == "" {
				arch = "amd64"
			}
			pkg := deb(t, arch, tc.members)
			_, _, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64", Limits: tc.limits})
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// A debian-binary member holds "2.0\n": a large one is refused as too
// large, whether it is all there or cut short.
func TestExtractRefusesHugeDebianBinary(t *testing.T) {
	t.Parallel()
	for name, pkg := range map[string][]byte{
		"whole": ar([2][]byte{[]byte("debian-binary"), append([]byte("2.0\n"), make([]byte, 8<<20)...)}),
		"cut short": append([]byte("!<arch>\n"+fmt.Sprintf("%-16s%-12s%-6s%-6s%-8s%-10d`\n", "debian-binary", "0", "0", "0", "100644", int64(9_999_999_999))),
			"2.0\n"...),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64"})
			require.ErrorIs(t, err, extract.ErrTooLarge)
			require.ErrorContains(t, err, "debian-binary")
		})
	}
}

// TestExtractRefusesSparse: a sparse entry expands to more than its
// archive holds, past the payload's size cap.
func TestExtractRefusesSparse(t *testing.T) {
	t.Parallel()
	limits := extract.Limits{MaxEntries: 10, MaxFileSize: 4 << 20, MaxTotalSize: 1 << 20}
	for name, pax := range map[string]bool{"old GNU": false, "PAX 1.0": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pkg := debWithData(t, "amd64", "data.tar", sparseTar("./lib/modules/"+release+"/extra/riptides.ko", 3<<20, pax))
			res, dir, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64", Limits: limits})
			require.ErrorIs(t, err, extract.ErrSpecialFile, "%v", res.Modules)
			require.ErrorContains(t, err, "sparse")
			entries, _ := os.ReadDir(dir)
			require.Empty(t, entries)
		})
	}
}

func TestExtractRefusesUnsupportedCompression(t *testing.T) {
	t.Parallel()
	pkg := debWithData(t, "amd64", "data.tar.bz2", []byte("BZh91AY&SY"))
	_, _, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64"})
	require.ErrorIs(t, err, extract.ErrMalformed)
	require.NotErrorIs(t, err, extract.ErrTruncated)
	require.ErrorContains(t, err, `data.tar.bz2 has unsupported compression "bz2"; accepted are .gz, .xz, .zst and none`)
}

func manyDirs(n int) []member {
	var ms []member
	for i := range n {
		ms = append(ms, member{name: "./d" + string(rune('a'+i)) + "/", typ: tar.TypeDir})
	}
	return ms
}

func TestExtractHandMadeDebIsAccepted(t *testing.T) {
	t.Parallel()
	// The hostile cases are refused for what they hold, not for how they
	// were made: the same construction with safe entries passes.
	ko := fakedriver.Module(release, "v0.1.2", "x86_64")
	pkg := deb(t, "amd64", []member{
		{name: "./lib/", typ: tar.TypeDir},
		{name: "./lib/modules/" + release + "/extra/riptides.ko", typ: tar.TypeReg, data: ko},
		{name: "./lib/modules/" + release + "/updates/riptides.ko", typ: tar.TypeSymlink, linkname: "../extra/riptides.ko"},
		{name: "./lib/modules/" + release + "/extra/copy.ko", typ: tar.TypeLink, linkname: "./lib/modules/" + release + "/extra/riptides.ko"},
		{name: "./usr/share/doc/riptides/README", typ: tar.TypeReg, data: []byte("hello")},
	})
	res, dir, err := run(t, kernel.FormatDeb, pkg, extract.Options{Arch: "x86_64"})
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "lib/modules", release, "extra/riptides.ko")}, res.Modules)
	_, err = os.Stat(filepath.Join(dir, "usr"))
	require.ErrorIs(t, err, os.ErrNotExist, "only modules are written")
}

// cpio file types for hand-made rpm payloads.
const (
	reg     = 0o100644
	symlink = 0o120777
)

func TestExtractRefusesHostileRPM(t *testing.T) {
	t.Parallel()
	ko := fakedriver.Module(release, "v0.1.2", "x86_64")
	small := extract.Limits{MaxEntries: 10, MaxFileSize: 1 << 20, MaxTotalSize: 2 << 20}
	for name, tc := range map[string]struct {
		arch    string
		entries []cpioEntry
		limits  extract.Limits
		want    error
	}{
		"dot-dot path":          {entries: []cpioEntry{{"./lib/../../etc/evil.ko", reg, ko, 0}}, want: extract.ErrUnsafePath},
		"double-slash absolute": {entries: []cpioEntry{{"//etc/evil.ko", reg, ko, 0}}, want: extract.ErrUnsafePath},
		"absolute symlink":      {entries: []cpioEntry{{"./lib/modules", symlink, []byte("/etc"), 0}}, want: extract.ErrUnsafeLink},
		"symlink climbing out":  {entries: []cpioEntry{{"./lib/x", symlink, []byte("../../etc/shadow"), 0}}, want: extract.ErrUnsafeLink},
		"char device":           {entries: []cpioEntry{{"./dev/mem", 0o020600, nil, 0}}, want: extract.ErrSpecialFile},
		"block device":          {entries: []cpioEntry{{"./dev/sda", 0o060600, nil, 0}}, want: extract.ErrSpecialFile},
		"file over the limit":   {entries: []cpioEntry{{"./big.ko", reg, make([]byte, 1<<20+1), 0}}, limits: small, want: extract.ErrTooLarge},
		"decompression bomb": {
			entries: []cpioEntry{{"./a", reg, make([]byte, 1<<20), 0}, {"./b", reg, make([]byte, 1<<20), 0}, {"./c", reg, make([]byte, 1<<20), 0}},
			limits:  small, want: extract.ErrTooLarge,
		},
		"wrong arch": {arch: "aarch64", entries: []cpioEntry{{"./x.ko", reg, ko, 0}}, want: extract.ErrWrongArch},
		"module as a symlink to a non-module": {
			entries: []cpioEntry{{"./usr/share/blob", reg, ko, 0}, {"./lib/x.ko", symlink, []byte("../usr/share/blob"), 0}},
			want:    extract.ErrMalformed,
		},
		"hard-linked module": { // cpio keeps the data with the last link
			entries: []cpioEntry{{"./lib/a.ko", reg, nil, 2}, {"./lib/b.ko", reg, ko, 2}},
			want:    extract.ErrMalformed,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			arch := tc.arch
			if arch == "" {
				arch = "x86_64"
			}
			_, _, err := run(t, kernel.FormatRPM, rpmWithPayload(t, arch, tc.entries), extract.Options{Arch: "x86_64", Limits: tc.limits})
			require.ErrorIs(t, err, tc.want)
		})
	}

}

func TestExtractHandMadeRPMIsAccepted(t *testing.T) {
	t.Parallel()
	// The hostile cases are refused for what they hold: the same
	// construction with a safe payload passes. rpm installs payload names
	// under the root however they are spelled, so /x and ./x both land
	// inside the work dir.
	ko := fakedriver.Module(release, "v0.1.2", "x86_64")
	res, dir, err := run(t, kernel.FormatRPM, rpmWithPayload(t, "x86_64", []cpioEntry{
		{"./lib/modules/" + release + "/extra/riptides.ko", reg, ko, 0},
		{"/lib/modules/" + release + "/extra/other.ko", reg, ko, 0},
		{"./lib/modules/" + release + "/weak-updates/riptides.ko", symlink, []byte("../extra/riptides.ko"), 0},
	}), extract.Options{Arch: "x86_64"})
	require.NoError(t, err)
	require.Equal(t, []string{
		filepath.Join(dir, "lib/modules", release, "extra/riptides.ko"),
		filepath.Join(dir, "lib/modules", release, "extra/other.ko"),
	}, res.Modules)
}

func TestExtractRefusesWrongArchRealPackages(t *testing.T) {
	t.Parallel()
	for _, f := range []kernel.Format{kernel.FormatDeb, kernel.FormatRPM} {
		pkg := fakedriver.MustPackage(t, fakedriver.Spec{Format: f, KernelRelease: release, DriverVersion: "v0.1.2", Arch: "aarch64"})
		_, dir, err := run(t, f, pkg, extract.Options{Arch: "x86_64"})
		require.ErrorIs(t, err, extract.ErrWrongArch, f)
		require.ErrorContains(t, err, "this node is x86_64")
		entries, _ := os.ReadDir(dir)
		require.Empty(t, entries, "nothing is written before the architecture is checked")
	}
}

func TestExtractRefusesTruncated(t *testing.T) {
	t.Parallel()
	for _, f := range []kernel.Format{kernel.FormatDeb, kernel.FormatRPM} {
		comps := []string{"gzip", "xz", "zstd"}
		if f == kernel.FormatDeb {
			comps = append(comps, "none")
		}
		for _, c := range comps {
			pkg := fakedriver.MustPackage(t, fakedriver.Spec{Format: f, KernelRelease: release, DriverVersion: "v0.1.2", Arch: "x86_64", Compression: c})
			for _, cut := range []int{50, 100, len(pkg) / 2, len(pkg) - 40, len(pkg) - 2} {
				t.Run(strings.Join([]string{string(f), c, strconv.Itoa(cut)}, "/"), func(t *testing.T) {
					t.Parallel()
					_, _, err := run(t, f, pkg[:cut], extract.Options{Arch: "x86_64"})
					require.ErrorIs(t, err, extract.ErrTruncated)
				})
			}
		}
	}
}

func TestExtractRefusesNonPackages(t *testing.T) {
	t.Parallel()
	for _, f := range []kernel.Format{kernel.FormatDeb, kernel.FormatRPM} {
		_, _, err := run(t, f, []byte("<html>404 Not Found</html>"), extract.Options{})
		require.ErrorIs(t, err, extract.ErrMalformed, f)
	}
}
