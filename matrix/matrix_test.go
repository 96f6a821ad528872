package matrix_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

// fedoraKernels makes n distinct Fedora 42 kernels.
func fedoraKernels(n int) []matrix.Entry {
	out := make([]matrix.Entry, n)
	for i := range out {
		out[i] = matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: fmt.Sprintf("6.%d.%d-200.fc42.x86_64", 10+i/100, i%100)}
	}
	return out
}

func options() matrix.Options {
	return matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2"}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		kernels, size int
		want          []int
	}{
		"none":               {0, 0, []int{}},
		"one":                {1, 0, []int{1}},
		"exactly 256":        {256, 0, []int{256}},
		"257":                {257, 0, []int{256, 1}},
		"600 of 256":         {600, 0, []int{256, 256, 88}},
		"smaller chunk size": {10, 4, []int{4, 4, 2}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := options()
			o.ChunkSize = tc.size
			res, err := matrix.Build(fedoraKernels(tc.kernels), nil, o)
			require.NoError(t, err)
			sizes := []int{}
			for _, c := range res.Chunks {
				sizes = append(sizes, len(c.Include))
			}
			require.Equal(t, tc.want, sizes)
			require.Equal(t, tc.kernels, res.Kernels)
		})
	}
}

func TestBuildRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		change func(*matrix.Options)
		says   string
	}{
		"chunk 257":      {func(o *matrix.Options) { o.ChunkSize = 257 }, "chunk size 257: accepted are 1 to 256"},
		"chunk negative": {func(o *matrix.Options) { o.ChunkSize = -1 }, "accepted are 1 to 256"},
		"driver version": {func(o *matrix.Options) { o.DriverVersion = "0.1.2" }, "vMAJOR.MINOR.PATCH"},
		"no driver":      {func(o *matrix.Options) { o.DriverVersion = "" }, "driver_version: is required"},
		"bad naming":     {func(o *matrix.Options) { o.Naming.Template = "{prefix}.{ext}" }, "must contain {distribution}"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := options()
			tc.change(&o)
			_, err := matrix.Build(fedoraKernels(1), nil, o)
			require.ErrorContains(t, err, tc.says)
		})
	}
}

// Only what the release does not hold is built; --all (no Existing) builds
// everything.
func TestDiff(t *testing.T) {
	t.Parallel()
	entries := []matrix.Entry{
		{Arch: "x86_64", Target: "fedora", KernelRelease: "6.15.5-200.fc42.x86_64"},
		{Arch: "x86_64", Target: "fedora", KernelRelease: "6.16.2-200.fc42.x86_64"},
		{Arch: "x86_64", Target: "ubuntu", KernelRelease: "6.14.0-37-generic", DistroVersion: "24.04"},
		{Arch: "aarch64", Target: "amazonlinux2023", KernelRelease: "6.1.102-108.177.amzn2023.aarch64"},
	}
	o := options()
	o.Existing = map[string]bool{
		"riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm":                true,
		"riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm.sha256":         true,
		"riptides-driver-fedora-6.16.2-200.fc42.x86_64_v0.1.2_amd64.rpm":                true, // no .sha256: a loader cannot verify it
		"riptides-driver-ubuntu-6.14.0-37-generic_v0.1.1_amd64.deb":                     true, // another driver version
		"riptides-driver-amazonlinux-6.1.102-108.177.amzn2023.aarch64_v0.1.2_amd64.rpm": true, // another architecture
	}
	res, err := matrix.Build(entries, nil, o)
	require.NoError(t, err)
	require.Equal(t, 4, res.Kernels)
	require.Equal(t, 1, res.Built)
	require.Equal(t, []matrix.Chunk{{Include: []kernel.Request{
		{KernelVersion: "6.1.102-108.177.amzn2023.aarch64", Architecture: "aarch64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"},
		{KernelVersion: "6.16.2-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: "v0.1.2"},
		{KernelVersion: "6.14.0-37-generic", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"},
	}}}, res.Chunks)

	o.Existing = nil
	res, err = matrix.Build(entries, nil, o)
	require.NoError(t, err)
	require.Len(t, jobs(res), 4)
	require.Zero(t, res.Built)
}

// The same kernel named twice (two sources, two mirrors, two spellings of
// its target) is one job.
func TestDuplicatesAreOneJob(t *testing.T) {
	t.Parallel()
	jobs, skipped := build(t,
		matrix.Entry{Arch: "x86_64", Target: "amazonlinux", KernelRelease: "6.1.153-175.280.amzn2023.x86_64", DistroVersion: "2023"},
		matrix.Entry{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "6.1.153-175.280.amzn2023.x86_64", Input: "kernel-livepatch-6.1.153-175.280-1.0-1.amzn2023.x86_64"},
		matrix.Entry{Arch: "amd64", Target: "amazonlinux2023", KernelRelease: "6.1.153-175.280.amzn2023.x86_64"},
	)
	require.Empty(t, skipped)
	require.Len(t, jobs, 1)
}

// A name template with {distro_version} builds an HWE kernel for both
// Ubuntu versions.
func TestNamingKeepsDistroVersionsApart(t *testing.T) {
	t.Parallel()
	o := options()
	o.Naming = kernel.Naming{Prefix: "acme", Template: "{prefix}-{distribution}{distro_version}-{kernel_release}_{driver_version}_{pkgarch}.{ext}"}
	res, err := matrix.Build([]matrix.Entry{
		{Arch: "x86_64", Target: "ubuntu", KernelRelease: "6.8.0-1053-gcp", DistroVersion: "22.04"},
		{Arch: "x86_64", Target: "ubuntu", KernelRelease: "6.8.0-1053-gcp", DistroVersion: "24.04"},
	}, nil, o)
	require.NoError(t, err)
	require.Len(t, jobs(res), 2)
	require.Empty(t, res.Skipped)
}

// When two versions share a package name, the one the catalog lists later
// is built: versions are not compared as strings, where "9" > "10".
func TestNameCollisionKeepsCatalogNewer(t *testing.T) {
	t.Parallel()
	cat, err := kernel.NewCatalog([]kernel.Distribution{{Name: "debian", Versions: []string{"9", "10"}, Default: "10"}})
	require.NoError(t, err)
	o := options()
	o.Catalog = cat
	old := matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "4.19.0-27-amd64", DistroVersion: "9"}
	cur := matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "4.19.0-27-amd64", DistroVersion: "10"}
	for name, entries := range map[string][]matrix.Entry{
		"older first": {old, cur},
		"newer first": {cur, old},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := matrix.Build(entries, nil, o)
			require.NoError(t, err)
			got := jobs(res)
			require.Len(t, got, 1)
			require.Equal(t, "10", got[0].DistroVersion)
			require.Len(t, res.Skipped, 1)
			require.Contains(t, res.Skipped[0].Reason, "debian 9: its package")
		})
	}
}

// Skips from reading a source reach the report, once each, sorted.
func TestSkippedPassThrough(t *testing.T) {
	t.Parallel()
	in := []matrix.Skipped{
		{KernelRelease: "b", Target: "ubuntu", Reason: "r"},
		{KernelRelease: "a", Target: "ubuntu", Reason: "r"},
		{KernelRelease: "b", Target: "ubuntu", Reason: "r"},
	}
	res, err := matrix.Build(nil, in, options())
	require.NoError(t, err)
	require.Equal(t, []matrix.Skipped{in[1], in[0]}, res.Skipped)
	require.Equal(t, []matrix.Chunk{}, res.Chunks)
}
