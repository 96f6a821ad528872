package kernel_test

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
)

// fixtureReleases maps the distro column of kernel-releases.tsv to the
// request fields a loader on such a machine would send.
var fixtureDistro = map[string][2]string{
	"ubuntu-generic":    {"ubuntu", ""},
	"ubuntu-aws":        {"ubuntu", ""},
	"ubuntu-gcp":        {"ubuntu", ""},
	"ubuntu-azure":      {"ubuntu", ""},
	"ubuntu-lowlatency": {"ubuntu", ""},
	"fedora-42":         {"fedora", "42"},
	"fedora-43":         {"fedora", "43"},
	"centos-stream-9":   {"centos", "stream9"},
	"centos-stream-10":  {"centos", "stream10"},
	"amazonlinux-2023":  {"amazonlinux", "2023"},
}

type release struct{ distro, release string }

func readReleases(t testing.TB) []release {
	t.Helper()
	var out []release
	sc := bufio.NewScanner(bytes.NewReader(fixtures.Read(t, "kernel-releases.tsv")))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		require.GreaterOrEqual(t, len(f), 2, "line %q", sc.Text())
		out = append(out, release{f[0], f[1]})
	}
	require.NoError(t, sc.Err())
	require.Greater(t, len(out), 100)
	return out
}

// Every real release of a supported distribution is accepted, with the
// distro version it names itself.
func TestNormalizeFixtureReleases(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	checked := 0
	for _, r := range readReleases(t) {
		want, ok := fixtureDistro[r.distro]
		if !ok {
			continue
		}
		got, err := cat.Normalize(kernel.Request{KernelVersion: r.release, Architecture: "amd64", Distribution: want[0], DriverVersion: "v0.1.2"})
		require.NoError(t, err, "%s %s", r.distro, r.release)
		if want[1] != "" {
			require.Equal(t, want[1], got.DistroVersion, r.release)
		} else {
			require.Equal(t, "24.04", got.DistroVersion, "ubuntu releases name no version; the default applies")
		}
		checked++
	}
	require.Greater(t, checked, 50)
}

// Every real release passes the syntax check, including those of
// distributions the service does not build for.
func TestValidateReleaseFixtures(t *testing.T) {
	t.Parallel()
	for _, r := range readReleases(t) {
		if r.distro == "al2023-livepatch-pkg" {
			continue // package names, not kernel releases
		}
		require.NoError(t, kernel.ValidateRelease(r.release), r.release)
	}
}

func TestMarkerOf(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		release, distribution, version string
	}{
		"fedora 42":           {"6.15.5-200.fc42.x86_64", "fedora", "42"},
		"fedora 43 kernel 7":  {"7.1.8-100.fc43.x86_64", "fedora", "43"},
		"centos stream9":      {"5.14.0-596.el9.x86_64", "centos", "stream9"},
		"centos stream10 rc":  {"6.11.0-0.rc5.23.el10.x86_64", "centos", "stream10"},
		"el10 minor rebuild":  {"6.12.0-124.8.1.el10_1.aarch64", "centos", "stream10"},
		"amazon linux 2023":   {"6.1.119-129.201.amzn2023.x86_64", "amazonlinux", "2023"},
		"amazon linux 2":      {"5.10.75-79.358.amzn2.x86_64", "amazonlinux", "2"},
		"debian 13":           {"6.12.63+deb13-amd64", "debian", "13"},
		"debian backport pkg": {"5.18.14-1~bpo11+1-amd64", "debian", "11"},
		"debian abi release":  {"5.18.0-0.deb11.3-cloud-amd64", "debian", "11"},
		"debian pkg version":  {"4.9.210-1+deb9u1~deb8u1", "debian", "9"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, ok := kernel.MarkerOf(tc.release)
			require.True(t, ok)
			require.Equal(t, tc.distribution, m.Distribution)
			require.Equal(t, tc.version, m.Version)
		})
	}
	for _, r := range []string{"6.8.0-1053-gcp", "6.1.0-43-amd64", "6.10.11+bpo-amd64", "5.4.83-flatcar", "6.14.0-37-generic"} {
		_, ok := kernel.MarkerOf(r)
		require.False(t, ok, r)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	valid := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v0.1.2"}
	with := func(f func(*kernel.Request)) kernel.Request { r := valid; f(&r); return r }

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		for name, tc := range map[string]struct {
			in   kernel.Request
			want kernel.Request
		}{
			"as is":                  {valid, valid},
			"amd64 normalised":       {with(func(r *kernel.Request) { r.Architecture = "amd64" }), valid},
			"arm64 normalised":       {with(func(r *kernel.Request) { r.Architecture = "arm64" }), with(func(r *kernel.Request) { r.Architecture = "aarch64" })},
			"default distro version": {with(func(r *kernel.Request) { r.DistroVersion = "" }), with(func(r *kernel.Request) { r.DistroVersion = "24.04" })},
			"distro version from release": {
				kernel.Request{KernelVersion: "6.15.5-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DriverVersion: "v1.0.0"},
				kernel.Request{KernelVersion: "6.15.5-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: "v1.0.0"},
			},
			"debian 13": {
				kernel.Request{KernelVersion: "6.12.63+deb13-amd64", Architecture: "x86_64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.0"},
				kernel.Request{KernelVersion: "6.12.63+deb13-amd64", Architecture: "x86_64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.0"},
			},
			"prerelease driver": {with(func(r *kernel.Request) { r.DriverVersion = "v0.2.0-rc.1" }), with(func(r *kernel.Request) { r.DriverVersion = "v0.2.0-rc.1" })},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				got, err := cat.Normalize(tc.in)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}
	})

	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		for name, tc := range map[string]struct {
			in    kernel.Request
			field string
			says  string
		}{
			"empty kernel":       {with(func(r *kernel.Request) { r.KernelVersion = "" }), "kernel_version", "required"},
			"shell substitution": {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0-$(reboot)" }), "kernel_version", "only letters"},
			"backticks":          {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0`id`" }), "kernel_version", "only letters"},
			"semicolon":          {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0;rm -rf /" }), "kernel_version", "only letters"},
			"newline":            {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0\n-generic" }), "kernel_version", "only letters"},
			"trailing newline":   {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0-generic\n" }), "kernel_version", "only letters"},
			"NUL":                {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0\x00" }), "kernel_version", "only letters"},
			"non-ASCII":          {with(func(r *kernel.Request) { r.KernelVersion = "6.8.0-génériqué" }), "kernel_version", "only letters"},
			"path traversal":     {with(func(r *kernel.Request) { r.KernelVersion = "6.8/../../etc" }), "kernel_version", "only letters"},
			"no N.N start":       {with(func(r *kernel.Request) { r.KernelVersion = "linux-6.8" }), "kernel_version", "start with N.N"},
			"10 kB":              {with(func(r *kernel.Request) { r.KernelVersion = "6.8." + strings.Repeat("1", 10240) }), "kernel_version", "at most 128"},
			"129 bytes":          {with(func(r *kernel.Request) { r.KernelVersion = "6." + strings.Repeat("1", 127) }), "kernel_version", "at most 128"},
			"arch empty":         {with(func(r *kernel.Request) { r.Architecture = "" }), "architecture", "required"},
			"arch i386":          {with(func(r *kernel.Request) { r.Architecture = "i386" }), "architecture", "x86_64 and aarch64"},
			"arch shell":         {with(func(r *kernel.Request) { r.Architecture = "x86_64;id" }), "architecture", "x86_64 and aarch64"},
			"distribution empty": {with(func(r *kernel.Request) { r.Distribution = "" }), "distribution", "amazonlinux, centos, debian, fedora, ubuntu"},
			"distribution rhel":  {with(func(r *kernel.Request) { r.Distribution = "rhel" }), "distribution", "amazonlinux, centos, debian, fedora, ubuntu"},
			"distribution case":  {with(func(r *kernel.Request) { r.Distribution = "Ubuntu" }), "distribution", "not supported"},
			"distro version old": {with(func(r *kernel.Request) { r.DistroVersion = "20.04" }), "distro_version", "22.04, 24.04, 25.10, 26.04"},
			"distro version nul": {with(func(r *kernel.Request) { r.DistroVersion = "24.04\x00" }), "distro_version", "accepted are"},
			"fedora mismatch": {
				kernel.Request{KernelVersion: "6.15.5-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "43", DriverVersion: "v0.1.2"},
				"distro_version", "fedora 42",
			},
			"el9 as stream10": {
				kernel.Request{KernelVersion: "5.14.0-596.el9.x86_64", Architecture: "x86_64", Distribution: "centos", DistroVersion: "stream10", DriverVersion: "v0.1.2"},
				"distro_version", "centos stream9",
			},
			"bpo12 as 13": {
				kernel.Request{KernelVersion: "6.1.0-0~bpo12+1-amd64", Architecture: "x86_64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.2"},
				"distro_version", "debian 12",
			},
			"deb13 as 12": {
				kernel.Request{KernelVersion: "6.12.63+deb13-amd64", Architecture: "x86_64", Distribution: "debian", DistroVersion: "12", DriverVersion: "v0.1.2"},
				"distro_version", "debian 13",
			},
			"fedora kernel on ubuntu": {
				kernel.Request{KernelVersion: "6.15.5-200.fc42.x86_64", Architecture: "x86_64", Distribution: "ubuntu", DriverVersion: "v0.1.2"},
				"kernel_version", "fedora kernel",
			},
			"amazon linux 2 kernel": {
				kernel.Request{KernelVersion: "5.10.75-79.358.amzn2.x86_64", Architecture: "x86_64", Distribution: "amazonlinux", DriverVersion: "v0.1.2"},
				"distro_version", "accepted are 2023",
			},
			"driver empty":        {with(func(r *kernel.Request) { r.DriverVersion = "" }), "driver_version", "required"},
			"driver without v":    {with(func(r *kernel.Request) { r.DriverVersion = "0.1.2" }), "driver_version", "vMAJOR.MINOR.PATCH"},
			"driver leading zero": {with(func(r *kernel.Request) { r.DriverVersion = "v01.1.2" }), "driver_version", "vMAJOR.MINOR.PATCH"},
			"driver shell":        {with(func(r *kernel.Request) { r.DriverVersion = "v0.1.2-$(id)" }), "driver_version", "vMAJOR.MINOR.PATCH"},
			"driver long":         {with(func(r *kernel.Request) { r.DriverVersion = "v0.1.2-" + strings.Repeat("a", 100) }), "driver_version", "vMAJOR.MINOR.PATCH"},
			"driver build meta":   {with(func(r *kernel.Request) { r.DriverVersion = "v0.1.2+meta" }), "driver_version", "vMAJOR.MINOR.PATCH"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				_, err := cat.Normalize(tc.in)
				var fe *kernel.FieldError
				require.True(t, errors.As(err, &fe), "want a FieldError, got %v", err)
				require.Equal(t, tc.field, fe.Field)
				require.Contains(t, fe.Msg, tc.says)
				require.NotContains(t, fe.Error(), "\n", "messages must not carry raw control characters")
			})
		}
	})
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	r := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v0.1.2"}
	require.Equal(t, "6.8.0-1053-gcp:x86_64:ubuntu:22.04:v0.1.2", r.CacheKey())
}

func TestPackageName(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	for name, tc := range map[string]struct {
		naming kernel.Naming
		req    kernel.Request
		want   string
	}{
		"amazon linux rpm": {
			kernel.DefaultNaming(),
			kernel.Request{KernelVersion: "6.12.58-82.121.amzn2023.x86_64", Architecture: "x86_64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"},
			"riptides-driver-amazonlinux-6.12.58-82.121.amzn2023.x86_64_v0.1.2_amd64.rpm",
		},
		"ubuntu deb": {
			kernel.DefaultNaming(),
			kernel.Request{KernelVersion: "6.14.0-1021-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"},
			"riptides-driver-ubuntu-6.14.0-1021-gcp_v0.1.2_amd64.deb",
		},
		"arm64": {
			kernel.DefaultNaming(),
			kernel.Request{KernelVersion: "6.1.102-108.177.amzn2023.aarch64", Architecture: "aarch64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"},
			"riptides-driver-amazonlinux-6.1.102-108.177.amzn2023.aarch64_v0.1.2_arm64.rpm",
		},
		"template with distro version": {
			kernel.Naming{Prefix: "acme", Template: "{prefix}-{distribution}{distro_version}-{kernel_release}_{driver_version}_{pkgarch}.{ext}"},
			kernel.Request{KernelVersion: "6.8.0-40-generic", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v1.0.0"},
			"acme-ubuntu22.04-6.8.0-40-generic_v1.0.0_amd64.deb",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tc.naming.Validate())
			got, err := cat.PackageName(tc.naming, tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNamingValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		naming kernel.Naming
		says   string
	}{
		"unknown placeholder": {kernel.Naming{Prefix: "p", Template: "{prefix}-{distribution}-{kernel_release}_{driver_version}_{pkgarch}.{ext}{x}"}, "unknown placeholder {x}"},
		"no kernel":           {kernel.Naming{Prefix: "p", Template: "{prefix}-{distribution}_{driver_version}_{pkgarch}.{ext}"}, "{kernel_release}"},
		"no arch":             {kernel.Naming{Prefix: "p", Template: "{prefix}-{distribution}-{kernel_release}_{driver_version}.{ext}"}, "{arch} or {pkgarch}"},
		"slash":               {kernel.Naming{Prefix: "p", Template: "{prefix}/{distribution}-{kernel_release}_{driver_version}_{pkgarch}.{ext}"}, "outside placeholders"},
		"bad prefix":          {kernel.Naming{Prefix: "Bad Prefix", Template: kernel.DefaultTemplate}, "package prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.naming.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.says)
		})
	}
}

func TestNewCatalog(t *testing.T) {
	t.Parallel()
	_, err := kernel.NewCatalog([]kernel.Distribution{{Name: "rocky", Versions: []string{"9"}, Default: "9"}})
	require.ErrorContains(t, err, "format must be deb or rpm")
	_, err = kernel.NewCatalog([]kernel.Distribution{{Name: "ubuntu", Versions: []string{"24.04"}, Default: "22.04"}})
	require.ErrorContains(t, err, "default version")
	_, err = kernel.NewCatalog([]kernel.Distribution{{Name: "ubuntu", Versions: []string{"24.04;id"}, Default: "24.04;id"}})
	require.ErrorContains(t, err, "lower-case letters, digits and dots")
	c, err := kernel.NewCatalog([]kernel.Distribution{{Name: "rocky", Versions: []string{"9"}, Default: "9", Format: kernel.FormatRPM}})
	require.NoError(t, err)
	f, err := c.Format("rocky")
	require.NoError(t, err)
	require.Equal(t, kernel.FormatRPM, f)
}
