package matrix_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

const validKernels = `{
  "x86_64": [
    {"target": "amazonlinux", "kernelrelease": "6.1.119-129.201.amzn2023.x86_64", "distroversion": "2023"},
    {"target": "centos", "kernelrelease": "5.14.0-596.el9.x86_64"},
    {"target": "ubuntu", "kernelrelease": "6.8.0-1053-gcp", "distroversion": "22.04"},
    {"target": "ubuntu", "kernelrelease": "6.8.0-1053-gcp", "distroversion": "24.04"}
  ],
  "aarch64": [
    {"target": "amazonlinux2023", "kernelrelease": "6.1.102-108.177.amzn2023.aarch64"}
  ]
}`

func TestValidateKernels(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	require.NoError(t, matrix.ValidateKernels(cat, []byte(validKernels)))
	require.NoError(t, matrix.ValidateKernels(cat, []byte(`{}`)))

	for name, tc := range map[string]struct {
		file string
		says []string
	}{
		"not json":      {`{"x86_64": [`, []string{"kernels.json", "the format is"}},
		"unknown field": {`{"x86_64": [{"target": "ubuntu", "kernelrelease": "6.8.0-40-generic", "distro": "24.04"}]}`, []string{`unknown field "distro"`}},
		"unknown arch":  {`{"amd64": []}`, []string{`architecture "amd64": accepted are [aarch64 x86_64]`}},
		"trailing data": {`{} {}`, []string{"data after"}},
		"architecture twice": {`{"x86_64": [{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"}],
			"aarch64": [], "x86_64": [{"target": "centos", "kernelrelease": "5.14.0-596.el9.x86_64"}]}`, []string{`"x86_64" is listed twice`}},
		"field twice": {`{"x86_64": [{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"},
			{"target": "centos", "kernelrelease": "5.14.0-596.el9.x86_64", "target": "fedora"}]}`, []string{`x86_64[1]: key "target" appears twice`}},
		"missing target":      {`{"x86_64": [{"kernelrelease": "6.8.0-40-generic"}]}`, []string{"x86_64[0]", "target and kernelrelease are required"}},
		"unknown distro":      {`{"x86_64": [{"target": "rhel", "kernelrelease": "5.14.0-596.el9.x86_64"}]}`, []string{"x86_64[0] (rhel 5.14.0-596.el9.x86_64): distribution rhel is not supported: accepted are amazonlinux, centos, debian, fedora, ubuntu"}},
		"unsupported version": {`{"aarch64": [{"target": "amazonlinux2", "kernelrelease": "5.10.75-79.358.amzn2.aarch64"}]}`, []string{"aarch64[0]", "amazonlinux 2 is not supported: accepted are 2023"}},
		"hostile release":     {`{"x86_64": [{"target": "ubuntu", "kernelrelease": "6.8.0;id", "distroversion": "24.04"}]}`, []string{"is not a kernel release"}},
		"unsorted": {`{"x86_64": [
			{"target": "ubuntu", "kernelrelease": "6.8.0-40-generic", "distroversion": "24.04"},
			{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"}]}`, []string{"x86_64[1] (fedora 6.15.5-200.fc42.x86_64): not sorted: it must come before x86_64[0]"}},
		"duplicate": {`{"x86_64": [
			{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"},
			{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64", "distroversion": "42"}]}`, []string{"x86_64[1]", "the same kernel as x86_64[0] (fedora 42 6.15.5-200.fc42.x86_64)"}},
		"exact duplicate": {`{"x86_64": [
			{"target": "centos", "kernelrelease": "5.14.0-596.el9.x86_64"},
			{"target": "centos", "kernelrelease": "5.14.0-596.el9.x86_64"}]}`, []string{"x86_64[1] (centos 5.14.0-596.el9.x86_64): the same kernel as x86_64[0]"}},
		"every problem": {`{"x86_64": [
			{"target": "ubuntu", "kernelrelease": "6.8.0-40-generic", "distroversion": "20.04"},
			{"target": "fedora", "kernelrelease": "5.19.4-200.fc36.x86_64"}]}`, []string{"ubuntu 20.04 is not supported", "fedora 36 is not supported"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := matrix.ValidateKernels(cat, []byte(tc.file))
			require.Error(t, err)
			for _, s := range tc.says {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

// The seed file in the repository is what the PR check accepts.
func TestRepositoryKernelsJSON(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", ".github", "kernels.json"))
	require.NoError(t, err)
	require.NoError(t, matrix.ValidateKernels(kernel.DefaultCatalog(), data))
	k, err := matrix.ParseKernels(data)
	require.NoError(t, err)
	require.NotEmpty(t, k[kernel.ArchX86_64])
	require.NotEmpty(t, k[kernel.ArchAarch64])
	out, err := k.Marshal()
	require.NoError(t, err)
	require.Equal(t, string(data), string(out), "the committed file is in canonical form")
}

// Add keeps the file valid: sorted, no duplicates.
func TestKernelsAdd(t *testing.T) {
	t.Parallel()
	k, err := matrix.ParseKernels([]byte(validKernels))
	require.NoError(t, err)
	require.True(t, k.Add("x86_64", matrix.KernelEntry{Target: "debian", KernelRelease: "6.12.63+deb13-amd64", DistroVersion: "13"}))
	require.True(t, k.Add("x86_64", matrix.KernelEntry{Target: "ubuntu", KernelRelease: "6.14.0-37-generic", DistroVersion: "24.04"}))
	require.False(t, k.Add("x86_64", matrix.KernelEntry{Target: "centos", KernelRelease: "5.14.0-596.el9.x86_64"}))
	require.True(t, k.Add("aarch64", matrix.KernelEntry{Target: "fedora", KernelRelease: "6.15.5-200.fc42.aarch64"}))
	data, err := k.Marshal()
	require.NoError(t, err)
	require.NoError(t, matrix.ValidateKernels(kernel.DefaultCatalog(), data))
	require.Len(t, k["x86_64"], 6)
	require.Equal(t, "debian", k["x86_64"][2].Target)
	require.Equal(t, "6.14.0-37-generic", k["x86_64"][3].KernelRelease, "bytes order: 6.14 before 6.8")

	empty, err := matrix.Kernels{}.Marshal()
	require.NoError(t, err)
	require.JSONEq(t, `{"x86_64": [], "aarch64": []}`, string(empty))
}

func TestKernelsEntries(t *testing.T) {
	t.Parallel()
	k, err := matrix.ParseKernels([]byte(validKernels))
	require.NoError(t, err)
	jobs, skipped := build(t, k.Entries()...)
	require.Len(t, jobs, 4)
	require.Equal(t, kernel.Request{KernelVersion: "6.1.102-108.177.amzn2023.aarch64", Architecture: "aarch64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"}, jobs[0])
	require.Contains(t, jobs, kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"})
	// 6.8.0-1053-gcp for 22.04 and 24.04 have one package name under the
	// default template: the newer version is built, the other reported.
	require.Equal(t, []matrix.Skipped{{KernelRelease: "6.8.0-1053-gcp", Target: "ubuntu",
		Reason: "ubuntu 22.04: its package riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb is also the one of ubuntu 24.04, which is built instead; a name template with {distro_version} keeps them apart"}}, skipped)
}

// MergeKernels adds what is missing, in canonical form: an entry listed
// under another spelling (no distro version, a driverkit target) is no
// new kernel, another distro version of one release is.
func TestMergeKernels(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	req := func(release, arch, distro, version string) kernel.Request {
		return kernel.Request{KernelVersion: release, Architecture: arch, Distribution: distro, DistroVersion: version, DriverVersion: "v0.1.2"}
	}
	for name, tc := range map[string]struct {
		reqs  []kernel.Request
		added int
	}{
		"new kernel":             {[]kernel.Request{req("6.12.63+deb13-amd64", "x86_64", "debian", "13")}, 1},
		"listed exactly":         {[]kernel.Request{req("6.8.0-1053-gcp", "x86_64", "ubuntu", "24.04")}, 0},
		"listed without version": {[]kernel.Request{req("5.14.0-596.el9.x86_64", "x86_64", "centos", "stream9")}, 0},
		"listed as a target":     {[]kernel.Request{req("6.1.102-108.177.amzn2023.aarch64", "aarch64", "amazonlinux", "2023")}, 0},
		"other architecture":     {[]kernel.Request{req("6.1.119-129.201.amzn2023.aarch64", "aarch64", "amazonlinux", "2023")}, 1},
		"other distro version":   {[]kernel.Request{req("6.14.0-37-generic", "x86_64", "ubuntu", "24.04"), req("6.14.0-37-generic", "x86_64", "ubuntu", "22.04")}, 2},
		"two driver versions":    {[]kernel.Request{req("6.15.5-200.fc42.x86_64", "x86_64", "fedora", "42"), req("6.15.5-200.fc42.x86_64", "x86_64", "fedora", "42")}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, added, err := matrix.MergeKernels(cat, []byte(validKernels), tc.reqs)
			require.NoError(t, err)
			require.Len(t, added, tc.added)
			if tc.added == 0 {
				require.Nil(t, out)
				return
			}
			require.NoError(t, matrix.ValidateKernels(cat, out))
			require.True(t, bytes.HasSuffix(out, []byte("]\n}\n")), "newline-terminated, indented")
			k, err := matrix.ParseKernels(out)
			require.NoError(t, err)
			for _, r := range tc.reqs {
				require.True(t, k.Lists(cat, r), "lists %s", r.CacheKey())
			}
			again, more, err := matrix.MergeKernels(cat, out, tc.reqs)
			require.NoError(t, err)
			require.Nil(t, again)
			require.Empty(t, more)
		})
	}
	_, _, err := matrix.MergeKernels(cat, []byte(`{"x86_64": [`), nil)
	require.ErrorContains(t, err, "kernels.json")
}

// TestMergeKernelsSortsAnUnsortedFile: a file pushed out of order gets the
// new entry and comes out valid, not with the entry in a wrong place.
func TestMergeKernelsSortsAnUnsortedFile(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	unsorted := `{
  "aarch64": [],
  "x86_64": [
    {"target": "ubuntu", "kernelrelease": "6.8.0-1053-gcp", "distroversion": "24.04"},
    {"target": "debian", "kernelrelease": "6.1.0-28-amd64", "distroversion": "12"}
  ]
}
`
	require.Error(t, matrix.ValidateKernels(cat, []byte(unsorted)), "the fixture is out of order")
	out, added, err := matrix.MergeKernels(cat, []byte(unsorted), []kernel.Request{{KernelVersion: "6.12.63+deb13-amd64",
		Architecture: "x86_64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.2"}})
	require.NoError(t, err)
	require.Len(t, added, 1)
	require.NoError(t, matrix.ValidateKernels(cat, out))
}
