package kernel_test

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
)

func TestParseHeaderURL(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		url  string
		want kernel.HeaderPackage
	}{
		"ubuntu generic": {
			"http://mirrors.edge.kernel.org/ubuntu/pool/main/l/linux/linux-headers-5.15.0-41-generic_5.15.0-41.44_amd64.deb",
			kernel.HeaderPackage{Release: "5.15.0-41-generic", Version: "5.15.0-41.44", Arch: "amd64", Source: "linux"},
		},
		"ubuntu hwe names generic": {
			"http://security.ubuntu.com/ubuntu/pool/main/l/linux-hwe-5.15/linux-headers-5.15.0-41-generic_5.15.0-41.44~20.04.1_amd64.deb",
			kernel.HeaderPackage{Release: "5.15.0-41-generic", Version: "5.15.0-41.44~20.04.1", Arch: "amd64", Source: "linux-hwe-5.15"},
		},
		"escaped tilde": {
			"http://security.ubuntu.com/ubuntu/pool/main/l/linux-hwe-5.15/linux-headers-5.15.0-41-generic_5.15.0-41.44%7E20.04.1_amd64.deb",
			kernel.HeaderPackage{Release: "5.15.0-41-generic", Version: "5.15.0-41.44~20.04.1", Arch: "amd64", Source: "linux-hwe-5.15"},
		},
		"debian backport ABI": {
			"http://mirrors.edge.kernel.org/debian/pool/main/l/linux/linux-headers-5.18.0-0.deb11.3-cloud-amd64_5.18.14-1~bpo11+1_amd64.deb",
			kernel.HeaderPackage{Release: "5.18.0-0.deb11.3-cloud-amd64", Version: "5.18.14-1~bpo11+1", Arch: "amd64", Source: "linux"},
		},
		"ports arm64": {
			"http://ports.ubuntu.com/ubuntu-ports/pool/main/l/linux-aws/linux-headers-5.15.0-1017-aws_5.15.0-1017.21_arm64.deb",
			kernel.HeaderPackage{Release: "5.15.0-1017-aws", Version: "5.15.0-1017.21", Arch: "arm64", Source: "linux-aws"},
		},
		"bare file name": {
			"linux-headers-6.1.0-43-amd64_6.1.162-1_amd64.deb",
			kernel.HeaderPackage{Release: "6.1.0-43-amd64", Version: "6.1.162-1", Arch: "amd64"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := kernel.ParseHeaderURL(tc.url)
			require.True(t, ok)
			require.Equal(t, tc.want, got)
		})
	}
	for name, u := range map[string]string{
		"ubuntu common":   "http://mirrors.edge.kernel.org/ubuntu/pool/main/l/linux/linux-headers-5.15.0-41_5.15.0-41.44_all.deb",
		"hwe common":      "http://mirrors.edge.kernel.org/ubuntu/pool/main/l/linux-hwe-5.15/linux-hwe-5.15-headers-5.15.0-41_5.15.0-41.44~20.04.1_all.deb",
		"debian common":   "http://mirrors.edge.kernel.org/debian/pool/main/l/linux/linux-headers-5.18.0-0.deb11.3-common_5.18.14-1~bpo11+1_all.deb",
		"debian rt comm":  "http://security.debian.org/pool/updates/main/l/linux/linux-headers-4.9.0-19-common-rt_4.9.320-2_all.deb",
		"kbuild":          "http://mirrors.edge.kernel.org/debian/pool/main/l/linux/linux-kbuild-5.18_5.18.16-1~bpo11+1_amd64.deb",
		"rpm":             "https://mirrors.kernel.org/fedora/releases/34/Everything/x86_64/os/Packages/k/kernel-devel-5.11.12-300.fc34.x86_64.rpm",
		"flatcar":         "https://stable.release.flatcar-linux.net/amd64-usr/1688.5.3/flatcar_developer_container.bin.bz2",
		"shell in name":   "http://x/pool/main/l/linux/linux-headers-5.15.0-41-$(id)_5.15.0-41.44_amd64.deb",
		"too few fields":  "http://x/pool/main/l/linux/linux-headers-5.15.0-41-generic_amd64.deb",
		"not a deb":       "http://x/pool/main/l/linux/linux-headers-5.15.0-41-generic_5.15.0-41.44_amd64.udeb",
		"empty":           "",
		"debian common 2": "linux-headers-6.12.63+deb13-common_6.12.63-1_all.deb",
	} {
		_, ok := kernel.ParseHeaderURL(u)
		require.False(t, ok, name)
	}
}

func TestUbuntuVersion(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		release, pkgVersion, source string
		want                        string // "" means not derivable
	}{
		"jammy GA generic":      {"5.15.0-41-generic", "5.15.0-41.44", "linux", "22.04"},
		"jammy lowlatency":      {"5.15.0-35-lowlatency", "5.15.0-35.36", "linux-lowlatency", "22.04"},
		"jammy gcp":             {"5.15.0-1017-gcp", "5.15.0-1017.23", "linux-gcp", "22.04"},
		"focal hwe 5.15":        {"5.15.0-41-generic", "5.15.0-41.44~20.04.1", "linux-hwe-5.15", "20.04"},
		"focal gcp 5.15 motd":   {"5.15.0-1078-gcp", "5.15.0-1078.87~20.04.1", "linux-gcp-5.15", "20.04"},
		"jammy gcp 6.8 motd":    {"6.8.0-1053-gcp", "6.8.0-1053.56~22.04.1", "linux-gcp-6.8", "22.04"},
		"xenial hwe":            {"4.8.0-53-generic", "4.8.0-53.56~16.04.1", "linux-hwe", "16.04"},
		"noble GA, no URL":      {"6.8.0-40-generic", "", "", "24.04"},
		"plucky GA":             {"6.14.0-37-generic", "6.14.0-37.37", "linux", "25.04"},
		"questing GA":           {"6.17.0-5-generic", "", "", "25.10"},
		"oem 5.17 on jammy":     {"5.17.0-1003-oem", "5.17.0-1003.3", "linux-oem-5.17", ""},
		"oem 5.14 series alone": {"5.14.0-1042-oem", "5.14.0-1042.47", "linux-oem-5.14", ""},
		"unknown series":        {"6.1.0-1035-oem", "6.1.0-1035.35", "", ""},
		"edge without suffix":   {"5.0.0-15-generic", "5.0.0-15.16", "linux-hwe-edge", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := kernel.UbuntuVersion(tc.release, tc.pkgVersion, tc.source)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDebianVersion(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		release, pkgVersion string
		want                string
	}{
		"trixie marker":           {"6.12.63+deb13-amd64", "", "13"},
		"bookworm stable":         {"6.1.0-43-amd64", "6.1.162-1", "12"},
		"bookworm cloud, no pkg":  {"6.1.0-41-cloud-amd64", "", "12"},
		"bullseye":                {"5.10.0-17-cloud-amd64", "5.10.136-1", "11"},
		"buster":                  {"4.19.0-21-cloud-amd64", "4.19.249-2", "10"},
		"stretch":                 {"4.9.0-19-amd64", "4.9.320-2", "9"},
		"bullseye backport ABI":   {"5.18.0-0.deb11.3-cloud-amd64", "5.18.14-1~bpo11+1", "11"},
		"bullseye bpo.1 ABI":      {"5.18.0-0.bpo.1-cloud-amd64", "5.18.2-1~bpo11+1", "11"},
		"buster backport":         {"5.10.0-0.bpo.15-cloud-amd64", "5.10.120-1~bpo10+1", "10"},
		"stretch rebuild of 4.19": {"4.19.0-0.bpo.19-cloud-amd64", "4.19.232-1~deb9u1", "9"},
		"stretch bpo of buster":   {"4.19.0-0.bpo.9-cloud-amd64", "4.19.118-2+deb10u1~bpo9+1", "9"},
		"jessie rebuild":          {"4.9.0-0.bpo.12-amd64", "4.9.210-1+deb9u1~deb8u1", "8"},
		"bookworm point update":   {"6.1.0-9-amd64", "6.1.27-1+deb12u1", "12"},
		"bookworm bpo, no pkg":    {"6.10.11+bpo-amd64", "", ""},
		"old bpo, no pkg":         {"4.19.0-0.bpo.9-cloud-amd64", "", ""},
		"bpo12 from pkg":          {"6.10.11+bpo-amd64", "6.10.11-1~bpo12+1", "12"},
		"unknown series":          {"5.18.0-3-amd64", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := kernel.DebianVersion(tc.release, tc.pkgVersion)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got)
		})
	}
}

// The debian rows of kernel-releases.tsv that name a package version each
// derive the Debian release that version targets.
func TestDebianVersionFixtures(t *testing.T) {
	t.Parallel()
	sc := bufio.NewScanner(bytes.NewReader(fixtures.Read(t, "kernel-releases.tsv")))
	checked := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 || f[0] != "debian" {
			continue
		}
		_, pkg, ok := strings.Cut(f[2], "pkg version ")
		if !ok {
			continue
		}
		pkg = strings.TrimSuffix(pkg, ")")
		_, ok = kernel.DebianVersion(f[1], pkg)
		require.True(t, ok, "%s (%s)", f[1], pkg)
		checked++
	}
	require.NoError(t, sc.Err())
	require.Greater(t, checked, 10)
}

func TestLivepatchRelease(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		pkg, arch, want string
	}{
		"with version":     {"kernel-livepatch-6.1.153-175.280-1.0-1.amzn2023", "x86_64", "6.1.153-175.280.amzn2023.x86_64"},
		"6.18":             {"kernel-livepatch-6.18.25-57.109-1.0-3.amzn2023", "x86_64", "6.18.25-57.109.amzn2023.x86_64"},
		"6.12 arm":         {"kernel-livepatch-6.12.58-82.121-1.0-3.amzn2023", "aarch64", "6.12.58-82.121.amzn2023.aarch64"},
		"name only":        {"kernel-livepatch-6.1.109-118.189", "x86_64", "6.1.109-118.189.amzn2023.x86_64"},
		"name only 6.1.72": {"kernel-livepatch-6.1.72-96.166", "aarch64", "6.1.72-96.166.amzn2023.aarch64"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := kernel.LivepatchRelease(tc.pkg, tc.arch)
			require.True(t, ok)
			require.Equal(t, tc.want, got)
			require.NoError(t, kernel.ValidateRelease(got))
			m, ok := kernel.MarkerOf(got)
			require.True(t, ok)
			require.Equal(t, "2023", m.Version)
		})
	}
	for name, tc := range map[string][2]string{
		"kpatch runtime": {"kpatch-runtime-0.9.7-1.amzn2023", "x86_64"},
		"kernel-devel":   {"kernel-devel-6.1.153-175.280.amzn2023", "x86_64"},
		"unknown arch":   {"kernel-livepatch-6.1.109-118.189", "noarch"},
		"shell":          {"kernel-livepatch-6.1.109-118.189;id", "x86_64"},
	} {
		_, ok := kernel.LivepatchRelease(tc[0], tc[1])
		require.False(t, ok, name)
	}
}
