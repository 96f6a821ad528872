package matrix_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

func TestSplitTarget(t *testing.T) {
	t.Parallel()
	for target, want := range map[string][2]string{
		"ubuntu":                     {"ubuntu", ""},
		"ubuntu-gcp":                 {"ubuntu", ""},
		"ubuntu-lowlatency-hwe-5.15": {"ubuntu", ""},
		"amazonlinux2023":            {"amazonlinux", "2023"},
		"amazonlinux2":               {"amazonlinux", "2"},
		"amazonlinux":                {"amazonlinux", ""},
		"AmazonLinux2022":            {"amazonlinux", "2022"},
		"CentOS":                     {"centos", ""},
		"Oracle7":                    {"oracle", "7"},
		"photonOS":                   {"photonos", ""},
	} {
		d, v := matrix.SplitTarget(target)
		require.Equal(t, want, [2]string{d, v}, target)
	}
}

// build runs Build on entries and returns the single job or the single
// skip reason.
func build(t *testing.T, entries ...matrix.Entry) ([]kernel.Request, []matrix.Skipped) {
	t.Helper()
	res, err := matrix.Build(entries, nil, matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2"})
	require.NoError(t, err)
	var jobs []kernel.Request
	for _, c := range res.Chunks {
		jobs = append(jobs, c.Include...)
	}
	return jobs, res.Skipped
}

// Each derivation rule, on real releases, as kernels.json or a crawler
// names them.
func TestDeriveDistroVersion(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		entry        matrix.Entry
		distribution string
		version      string
	}{
		"fedora .fc42.":        {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "6.15.5-200.fc42.x86_64"}, "fedora", "42"},
		"fedora 43 kernel 7":   {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "7.1.8-100.fc43.x86_64"}, "fedora", "43"},
		"centos .el9":          {matrix.Entry{Arch: "x86_64", Target: "centos", KernelRelease: "5.14.0-596.el9.x86_64"}, "centos", "stream9"},
		"centos .el10":         {matrix.Entry{Arch: "x86_64", Target: "centos", KernelRelease: "6.12.0-228.el10.x86_64"}, "centos", "stream10"},
		"centos .el10_1":       {matrix.Entry{Arch: "aarch64", Target: "centos", KernelRelease: "6.12.0-124.8.1.el10_1.aarch64"}, "centos", "stream10"},
		"amazonlinux2023":      {matrix.Entry{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "6.1.119-129.201.amzn2023.x86_64"}, "amazonlinux", "2023"},
		"amazonlinux, marker":  {matrix.Entry{Arch: "aarch64", Target: "amazonlinux", KernelRelease: "6.1.102-108.177.amzn2023.aarch64"}, "amazonlinux", "2023"},
		"debian +deb13":        {matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "6.12.63+deb13-amd64"}, "debian", "13"},
		"debian ~bpo12+":       {matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "6.10.11+bpo-amd64", PackageVersion: "6.10.11-1~bpo12+1"}, "debian", "12"},
		"debian 12 series":     {matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "6.1.0-43-amd64"}, "debian", "12"},
		"ubuntu GA series":     {matrix.Entry{Arch: "x86_64", Target: "ubuntu-generic", KernelRelease: "5.15.0-41-generic", PackageVersion: "5.15.0-41.44", Source: "linux"}, "ubuntu", "22.04"},
		"ubuntu ~22.04":        {matrix.Entry{Arch: "x86_64", Target: "ubuntu-gcp-6.8", KernelRelease: "6.8.0-1053-gcp", PackageVersion: "6.8.0-1053.56~22.04.1", Source: "linux-gcp-6.8"}, "ubuntu", "22.04"},
		"ubuntu given version": {matrix.Entry{Arch: "x86_64", Target: "ubuntu", KernelRelease: "6.14.0-37-generic", DistroVersion: "24.04"}, "ubuntu", "24.04"},
		"arch spelled amd64":   {matrix.Entry{Arch: "amd64", Target: "ubuntu", KernelRelease: "6.8.0-40-generic"}, "ubuntu", "24.04"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			jobs, skipped := build(t, tc.entry)
			require.Empty(t, skipped)
			require.Len(t, jobs, 1)
			require.Equal(t, tc.distribution, jobs[0].Distribution)
			require.Equal(t, tc.version, jobs[0].DistroVersion)
			require.Equal(t, tc.entry.KernelRelease, jobs[0].KernelVersion)
			require.Equal(t, "v0.1.2", jobs[0].DriverVersion)
		})
	}
}

func TestDeriveSkips(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		entry  matrix.Entry
		reason string
	}{
		"amazon linux 2":         {matrix.Entry{Arch: "x86_64", Target: "amazonlinux2", KernelRelease: "5.10.75-79.358.amzn2.x86_64"}, "amazonlinux 2 is not supported: accepted are 2023"},
		"amazon linux 1":         {matrix.Entry{Arch: "x86_64", Target: "amazonlinux", KernelRelease: "4.14.177-107.254.amzn1.x86_64"}, "amazonlinux 1 is not supported: accepted are 2023"},
		"target disagrees":       {matrix.Entry{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "5.10.75-79.358.amzn2.x86_64"}, "built for amazonlinux 2"},
		"fedora 36":              {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "5.19.4-200.fc36.x86_64"}, "fedora 36 is not supported: accepted are 42, 43"},
		"centos 7":               {matrix.Entry{Arch: "x86_64", Target: "centos", KernelRelease: "3.10.0-1160.el7.x86_64"}, "centos stream7 is not supported: accepted are stream9, stream10"},
		"oracle":                 {matrix.Entry{Arch: "x86_64", Target: "oracle8", KernelRelease: "4.18.0-147.0.2.el8_1.x86_64"}, "distribution oracle is not supported: accepted are amazonlinux, centos, debian, fedora, ubuntu"},
		"flatcar":                {matrix.Entry{Arch: "x86_64", Target: "flatcar", KernelRelease: "3305.0.0"}, "distribution flatcar is not supported"},
		"ubuntu 20.04 backport":  {matrix.Entry{Arch: "x86_64", Target: "ubuntu-gcp-5.15", KernelRelease: "5.15.0-1078-gcp", PackageVersion: "5.15.0-1078.87~20.04.1", Source: "linux-gcp-5.15"}, "ubuntu 20.04 is not supported: accepted are 22.04, 24.04, 25.10, 26.04"},
		"ubuntu oem, no version": {matrix.Entry{Arch: "x86_64", Target: "ubuntu-oem-5.17", KernelRelease: "5.17.0-1003-oem", PackageVersion: "5.17.0-1003.3", Source: "linux-oem-5.17"}, "cannot tell the ubuntu version"},
		"debian 11 backport":     {matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "5.18.0-0.deb11.3-amd64", PackageVersion: "5.18.14-1~bpo11+1", Input: "5.18.14-1~bpo11+1-amd64"}, "as 5.18.0-0.deb11.3-amd64: debian 11 is not supported: accepted are 12, 13"},
		"debian bpo no number":   {matrix.Entry{Arch: "x86_64", Target: "debian", KernelRelease: "6.12.27+bpo-amd64"}, "cannot tell the debian version"},
		"fedora no marker":       {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "6.15.5-200.x86_64"}, "cannot tell the fedora version: the release has no .fcNN."},
		"wrong given version":    {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "6.15.5-200.fc42.x86_64", DistroVersion: "43"}, "disagrees with kernel_version"},
		"hostile release":        {matrix.Entry{Arch: "x86_64", Target: "ubuntu", KernelRelease: "6.8.0-40-$(reboot)", DistroVersion: "24.04"}, "is not a kernel release"},
		"rpm of the other arch":  {matrix.Entry{Arch: "x86_64", Target: "fedora", KernelRelease: "6.15.5-200.fc42.aarch64"}, "the release is an aarch64 kernel, listed for x86_64"},
		"deb of the other arch":  {matrix.Entry{Arch: "aarch64", Target: "debian", KernelRelease: "6.1.0-43-cloud-amd64"}, "the release is an x86_64 kernel, listed for aarch64"},
		"i386":                   {matrix.Entry{Arch: "i386", Target: "ubuntu", KernelRelease: "6.8.0-40-generic", DistroVersion: "24.04"}, "accepted are x86_64 and aarch64"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			jobs, skipped := build(t, tc.entry)
			require.Empty(t, jobs)
			require.Len(t, skipped, 1)
			require.Contains(t, skipped[0].Reason, tc.reason)
			require.Equal(t, tc.entry.Target, skipped[0].Target)
			want := tc.entry.KernelRelease
			if tc.entry.Input != "" {
				want = tc.entry.Input
			}
			require.Equal(t, want, skipped[0].KernelRelease, "the report names the kernel as the source did")
		})
	}
}
