package matrix_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

const fixtureList = "x86_64-list.2022-08-29.json"

func fixtureResult(t testing.TB) matrix.Result {
	t.Helper()
	entries, skipped, err := matrix.ParseCrawler(bytes.NewReader(fixtures.Read(t, "kernel-crawler", fixtureList)), kernel.ArchX86_64)
	require.NoError(t, err)
	res, err := matrix.Build(entries, skipped, matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2"})
	require.NoError(t, err)
	return res
}

func jobs(res matrix.Result) []kernel.Request {
	var out []kernel.Request
	for _, c := range res.Chunks {
		out = append(out, c.Include...)
	}
	return out
}

func skipOf(res matrix.Result, target, release string) (matrix.Skipped, bool) {
	i := slices.IndexFunc(res.Skipped, func(s matrix.Skipped) bool { return s.Target == target && s.KernelRelease == release })
	if i < 0 {
		return matrix.Skipped{}, false
	}
	return res.Skipped[i], true
}

// The real 2022 crawler list (old format) gives the supported kernels of
// that time, Ubuntu 22.04 and CentOS Stream 9, and a reason for each of the
// others.
func TestCrawlerFixture(t *testing.T) {
	t.Parallel()
	res := fixtureResult(t)
	all := jobs(res)
	require.Len(t, res.Chunks, 1)
	require.Len(t, all, 100)
	for _, j := range all {
		require.Contains(t, []string{"ubuntu 22.04", "centos stream9"}, j.Distribution+" "+j.DistroVersion, j.KernelVersion)
		require.Equal(t, "x86_64", j.Architecture)
		require.NotContains(t, j.KernelVersion, "-hwe", "-hwe is the crawler's name, never uname -r's")
	}
	for _, want := range []kernel.Request{
		{KernelVersion: "5.15.0-41-generic", Distribution: "ubuntu", DistroVersion: "22.04"},
		{KernelVersion: "5.15.0-35-lowlatency", Distribution: "ubuntu", DistroVersion: "22.04"},
		{KernelVersion: "5.15.0-1017-gcp", Distribution: "ubuntu", DistroVersion: "22.04"},
		{KernelVersion: "5.15.0-1004-aws", Distribution: "ubuntu", DistroVersion: "22.04"},
		{KernelVersion: "5.14.0-148.el9.x86_64", Distribution: "centos", DistroVersion: "stream9"},
	} {
		want.Architecture, want.DriverVersion = "x86_64", "v0.1.2"
		require.Contains(t, all, want)
	}

	for name, tc := range map[string]struct{ target, release, reason string }{
		"amazon linux 2":         {"amazonlinux2", "5.10.75-79.358.amzn2.x86_64", "amazonlinux 2 is not supported: accepted are 2023"},
		"amazon linux 2022":      {"amazonlinux2022", "5.15.23-11.98.amzn2022.x86_64", "amazonlinux 2022 is not supported: accepted are 2023"},
		"focal hwe 5.15 generic": {"ubuntu-hwe-5.15", "5.15.0-41-hwe-5.15", "as 5.15.0-41-generic: ubuntu 20.04 is not supported"},
		"debian bpo11":           {"debian", "5.18.14-1~bpo11+1-amd64", "as 5.18.0-0.deb11.3-amd64: debian 11 is not supported: accepted are 12, 13"},
		"debian bpo11 cloud":     {"debian", "5.18.14-1~bpo11+1-amd64", "as 5.18.0-0.deb11.3-cloud-amd64: debian 11 is not supported"},
		"debian stretch":         {"debian", "4.9.320-2-amd64", "as 4.9.0-19-amd64: debian 9 is not supported"},
		"fedora 36":              {"fedora", "5.19.4-200.fc36.x86_64", "fedora 36 is not supported: accepted are 42, 43"},
		"centos 7":               {"centos", "3.10.0-1160.el7.x86_64", "centos stream7 is not supported"},
		"photon":                 {"photonOS", "4.19.15-2.ph3.x86_64", "distribution photonos is not supported"},
		"minikube, no headers":   {"minikube", "4.19.202", "distribution minikube is not supported"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			found := false
			for _, s := range res.Skipped {
				if s.Target == tc.target && s.KernelRelease == tc.release && strings.Contains(s.Reason, tc.reason) {
					found = true
				}
			}
			require.True(t, found, "no skip of %s %s saying %q", tc.target, tc.release, tc.reason)
		})
	}
}

// Every entry of the real list is accounted for: built, or skipped with a
// reason. Nothing is dropped silently.
func TestCrawlerFixtureAccountsForEveryEntry(t *testing.T) {
	t.Parallel()
	var list map[string][]struct {
		KernelRelease string   `json:"kernelrelease"`
		Target        string   `json:"target"`
		Headers       []string `json:"headers"`
	}
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "kernel-crawler", fixtureList), &list))
	res := fixtureResult(t)
	built := map[string]bool{}
	for _, j := range jobs(res) {
		built[j.KernelVersion] = true
	}
	n := 0
	for _, entries := range list {
		for _, e := range entries {
			n++
			if _, ok := skipOf(res, e.Target, e.KernelRelease); ok {
				continue
			}
			// Built under its own name or, for Ubuntu -hwe and Debian package
			// versions, under the release its headers name.
			ok := built[e.KernelRelease]
			for _, u := range e.Headers {
				h, isHeader := kernel.ParseHeaderURL(u)
				ok = ok || (isHeader && built[h.Release])
			}
			require.True(t, ok, "%s %s is neither built nor skipped", e.Target, e.KernelRelease)
		}
	}
	require.Equal(t, 4450, n)
}

// The current crawler format: driverkit target keys, string
// kernelversion, kernel configurations, aarch64 lists, Amazon Linux 2023.
func TestCrawlerCurrentFormat(t *testing.T) {
	t.Parallel()
	const list = `{
  "amazonlinux2023": [
    {"kernelversion": "1", "kernelrelease": "6.1.102-108.177.amzn2023.aarch64", "target": "amazonlinux2023",
     "headers": ["https://al2023-repos-us-east-1-de612dc2.s3.dualstack.us-east-1.amazonaws.com/blobstore/x/kernel-devel-6.1.102-108.177.amzn2023.aarch64.rpm"],
     "kernelconfigdata": "Q09ORklHX0FSTTY0PXkK"}
  ],
  "ubuntu": [
    {"kernelversion": "56~22.04.1", "kernelrelease": "6.8.0-1053-gcp", "target": "ubuntu-gcp-6.8",
     "headers": ["http://ports.ubuntu.com/ubuntu-ports/pool/main/l/linux-gcp-6.8/linux-headers-6.8.0-1053-gcp_6.8.0-1053.56~22.04.1_arm64.deb",
                 "http://ports.ubuntu.com/ubuntu-ports/pool/main/l/linux-gcp-6.8/linux-gcp-6.8-headers-6.8.0-1053_6.8.0-1053.56~22.04.1_all.deb"]},
    {"kernelversion": "37", "kernelrelease": "6.14.0-37-hwe", "target": "ubuntu-hwe-6.14",
     "headers": ["http://ports.ubuntu.com/ubuntu-ports/pool/main/l/linux-hwe-6.14/linux-headers-6.14.0-37-generic_6.14.0-37.37~24.04.1_arm64.deb"]},
    {"kernelversion": "1", "kernelrelease": "6.8.0-9-generic", "target": "ubuntu-generic", "headers": []}
  ],
  "debian": [
    {"kernelversion": "1", "kernelrelease": "6.12.63-1-arm64", "target": "debian",
     "headers": ["http://deb.debian.org/debian/pool/main/l/linux/linux-headers-6.12.63+deb13-arm64_6.12.63-1_arm64.deb",
                 "http://deb.debian.org/debian/pool/main/l/linux/linux-headers-6.12.63+deb13-common_6.12.63-1_all.deb",
                 "http://deb.debian.org/debian/pool/main/l/linux/linux-kbuild-6.12.63+deb13_6.12.63-1_arm64.deb"]}
  ]
}`
	entries, skipped, err := matrix.ParseCrawler(strings.NewReader(list), kernel.ArchX86_64)
	require.NoError(t, err)
	res, err := matrix.Build(entries, skipped, matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2"})
	require.NoError(t, err)
	require.Equal(t, []kernel.Request{
		{KernelVersion: "6.1.102-108.177.amzn2023.aarch64", Architecture: "aarch64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"},
		{KernelVersion: "6.12.63+deb13-arm64", Architecture: "aarch64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.2"},
		{KernelVersion: "6.8.0-1053-gcp", Architecture: "aarch64", Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v0.1.2"},
		{KernelVersion: "6.14.0-37-generic", Architecture: "aarch64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"},
	}, jobs(res))
	require.Equal(t, []matrix.Skipped{{KernelRelease: "6.8.0-9-generic", Target: "ubuntu-generic",
		Reason: "no linux-headers-<release>_<version>_<arch>.deb among its headers names the release uname -r prints"}}, res.Skipped)
}

func TestCrawlerRejectsOtherShapes(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"array":          `[{"kernelrelease": "6.8.0-40-generic"}]`,
		"object entries": `{"ubuntu": {"kernelrelease": "6.8.0-40-generic"}}`,
		"truncated":      `{"ubuntu": [{"kernelrelease": "6.8.0-40-generic"`,
		"wrong types":    `{"ubuntu": [{"kernelrelease": 6}]}`,
	} {
		_, _, err := matrix.ParseCrawler(strings.NewReader(in), kernel.ArchX86_64)
		require.Error(t, err, name)
	}
}

// The same input in any order gives the same output, byte for byte.
func TestBuildDeterministic(t *testing.T) {
	t.Parallel()
	entries, skipped, err := matrix.ParseCrawler(bytes.NewReader(fixtures.Read(t, "kernel-crawler", fixtureList)), kernel.ArchX86_64)
	require.NoError(t, err)
	opts := matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2", ChunkSize: 7}
	first, err := matrix.Build(entries, skipped, opts)
	require.NoError(t, err)
	want, err := json.Marshal(first)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	rng.Shuffle(len(skipped), func(i, j int) { skipped[i], skipped[j] = skipped[j], skipped[i] })
	again, err := matrix.Build(entries, skipped, opts)
	require.NoError(t, err)
	got, err := json.Marshal(again)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

func BenchmarkCrawlerFixture(b *testing.B) {
	data := fixtures.Read(b, "kernel-crawler", fixtureList)
	cat := kernel.DefaultCatalog()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		entries, skipped, err := matrix.ParseCrawler(bytes.NewReader(data), kernel.ArchX86_64)
		if err != nil {
			b.Fatal(err)
		}
		res, err := matrix.Build(entries, skipped, matrix.Options{Catalog: cat, Naming: kernel.DefaultNaming(), DriverVersion: "v0.1.2"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(res); err != nil {
			b.Fatal(err)
		}
	}
}
