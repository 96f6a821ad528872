package kernel_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// The os-release IDs and VERSION_IDs are those of the files in
// ../shared/fixtures/os-release.
func TestOSReleaseDistribution(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		id, versionID, distribution, version string
	}{
		"ubuntu 24.04":       {"ubuntu", "24.04", "ubuntu", "24.04"},
		"debian 13":          {"debian", "13", "debian", "13"},
		"fedora 42":          {"fedora", "42", "fedora", "42"},
		"centos stream9":     {"centos", "9", "centos", "stream9"},
		"centos minor":       {"centos", "10.1", "centos", "stream10"},
		"amazon linux 2023":  {"amzn", "2023", "amazonlinux", "2023"},
		"amazon linux 2":     {"amzn", "2", "amazonlinux", "2"},
		"the catalog's name": {"amazonlinux", "2023", "amazonlinux", "2023"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, v, ok := kernel.OSReleaseDistribution(tc.id, tc.versionID)
			require.True(t, ok)
			require.Equal(t, tc.distribution, d)
			require.Equal(t, tc.version, v)
		})
	}
	for _, id := range []string{"rhel", "rocky", "flatcar", "linux", ""} {
		_, _, ok := kernel.OSReleaseDistribution(id, "9")
		require.False(t, ok, id)
	}
}

func TestGuessDistroVersion(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		distribution string
		k            kernel.KernelInfo
		version, why string
	}{
		"ubuntu GA series":          {"ubuntu", kernel.KernelInfo{Release: "6.8.0-1053-gcp"}, "24.04", ""},
		"ubuntu backport":           {"ubuntu", kernel.KernelInfo{Release: "5.15.0-41-generic", PackageVersion: "5.15.0-41.44~20.04.1"}, "20.04", ""},
		"ubuntu hwe source":         {"ubuntu", kernel.KernelInfo{Release: "6.8.0-40-generic", Source: "linux-hwe-6.8"}, "", "GA source package"},
		"debian marker":             {"debian", kernel.KernelInfo{Release: "6.12.63+deb13-amd64"}, "13", ""},
		"debian stable series":      {"debian", kernel.KernelInfo{Release: "6.1.0-43-amd64"}, "12", ""},
		"debian unnumbered bpo":     {"debian", kernel.KernelInfo{Release: "6.10.11+bpo-amd64"}, "", "stable kernel series"},
		"fedora marker":             {"fedora", kernel.KernelInfo{Release: "6.15.5-200.fc42.x86_64"}, "42", ""},
		"fedora without":            {"fedora", kernel.KernelInfo{Release: "6.15.5-200.x86_64"}, "", "no .fcNN."},
		"centos marker":             {"centos", kernel.KernelInfo{Release: "5.14.0-596.el9.x86_64"}, "stream9", ""},
		"amazonlinux target":        {"amazonlinux", kernel.KernelInfo{Release: "6.1.102-108.177.x86_64", TargetVersion: "2023"}, "2023", ""},
		"amazonlinux marker":        {"amazonlinux", kernel.KernelInfo{Release: "6.1.119-129.201.amzn2023.x86_64"}, "2023", ""},
		"amazonlinux neither":       {"amazonlinux", kernel.KernelInfo{Release: "6.1.102-108.177.x86_64"}, "", "neither the target"},
		"not in the catalog":        {"oracle", kernel.KernelInfo{Release: "5.4.17-2136.el8uek.x86_64"}, "", "none in the release"},
		"another family's marker":   {"fedora", kernel.KernelInfo{Release: "5.14.0-596.el9.x86_64"}, "", "no .fcNN."},
		"target only for amazon":    {"fedora", kernel.KernelInfo{Release: "6.15.5-200.x86_64", TargetVersion: "42"}, "", "no .fcNN."},
		"ubuntu ignores the target": {"ubuntu", kernel.KernelInfo{Release: "4.1.0-1-generic", TargetVersion: "24"}, "", "GA kernel series"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, why := kernel.GuessDistroVersion(tc.distribution, tc.k)
			require.Equal(t, tc.version, v)
			if tc.why == "" {
				require.Empty(t, why)
			} else {
				require.Contains(t, why, tc.why)
			}
		})
	}
}

// The configured view of the catalog keeps each row's format.
func TestCatalogRows(t *testing.T) {
	t.Parallel()
	require.NotPanics(t, func() { kernel.DefaultCatalog() })
	for _, d := range kernel.DefaultDistributions() {
		f, ok := kernel.KnownFormat(d.Name)
		require.True(t, ok)
		require.Equal(t, d.Format, f)
		c, err := kernel.CatalogOf(map[string]kernel.Distribution{d.Name: {Versions: d.Versions, Default: d.Default}})
		require.NoError(t, err, "a configured %s needs no format", d.Name)
		got, err := c.Format(d.Name)
		require.NoError(t, err)
		require.Equal(t, d.Format, got)
	}
	_, ok := kernel.KnownFormat("rocky")
	require.False(t, ok)
}

// The README's validation paragraph lists the catalog's defaults.
func TestReadmeListsTheCatalog(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := regexp.MustCompile(`\s+`).ReplaceAllString(string(b), " ")
	var parts []string
	for _, d := range kernel.DefaultDistributions() {
		parts = append(parts, d.Name+" "+strings.Join(d.Versions, " "))
	}
	require.Contains(t, readme, "(defaults: "+strings.Join(parts, ", ")+")")
}

// docs/driver-loader.md's table of os-release IDs says what the catalog
// does (its rows are examples: a new distribution needs none).
func TestLoaderDocsMapOSReleaseAsTheCatalog(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/driver-loader.md")
	require.NoError(t, err)
	rows := regexp.MustCompile("(?m)^\\s*\\| `([a-z]+)` \\| `([0-9.]+)` \\| ([a-z]+) \\| ([a-z0-9.]+) \\|$").FindAllStringSubmatch(string(b), -1)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		d, v, ok := kernel.OSReleaseDistribution(r[1], r[2])
		require.True(t, ok, r[0])
		require.Equal(t, r[3], d, r[0])
		require.Equal(t, r[4], v, r[0])
	}
}
