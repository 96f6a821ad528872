package detect_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/detect"
)

// hostRoot lays out a host file system holding one fixture os-release.
func hostRoot(t *testing.T, fixture string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), fixtures.Read(t, "os-release", fixture), 0o644))
	return root
}

func uname(release, machine string) func() (string, string, error) {
	return func() (string, string, error) { return release, machine, nil }
}

func TestDetectFixtures(t *testing.T) {
	t.Parallel()
	for fixture, want := range map[string]struct{ dist, version string }{
		"ubuntu-22.04":     {"ubuntu", "22.04"},
		"ubuntu-24.04":     {"ubuntu", "24.04"},
		"debian-12":        {"debian", "12"},
		"debian-13":        {"debian", "13"},
		"fedora-42":        {"fedora", "42"},
		"fedora-43":        {"fedora", "43"},
		"centos-stream-9":  {"centos", "stream9"},
		"centos-stream-10": {"centos", "stream10"},
		"amazonlinux-2023": {"amazonlinux", "2023"},
	} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			d := detect.Detector{HostRoot: hostRoot(t, fixture), Catalog: kernel.DefaultCatalog(), Uname: uname("6.8.0-1053-gcp", "x86_64")}
			p, err := d.Detect(detect.Platform{})
			require.NoError(t, err)
			require.Equal(t, detect.Platform{Distribution: want.dist, DistroVersion: want.version, KernelRelease: "6.8.0-1053-gcp", Arch: "x86_64"}, p)
		})
	}
}

func TestDetectUnsupported(t *testing.T) {
	t.Parallel()
	for fixture, detected := range map[string]string{
		"rhel-9":        `Red Hat Enterprise Linux 9.6 (Plow) (ID="rhel" VERSION_ID="9.6")`,
		"amazonlinux-2": `Amazon Linux 2 (ID="amzn" VERSION_ID="2")`,
		"flatcar":       `Flatcar Container Linux by Kinvolk 4081.2.0 (Oklo) (ID="flatcar" VERSION_ID="4081.2.0")`,
		"debian-sid":    `Debian GNU/Linux trixie/sid (ID="debian" VERSION_ID="")`,
		"ubuntu-20.04":  `Ubuntu 20.04.6 LTS (ID="ubuntu" VERSION_ID="20.04")`,
		"bottlerocket":  `Bottlerocket OS 1.19.2 (aws-k8s-1.29) (ID="bottlerocket" VERSION_ID="1.19.2")`,
		"no os-release": `no readable os-release`,
	} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if fixture != "no os-release" {
				var content []byte
				if _, err := os.Stat(fixtures.Path(t, "os-release", fixture)); err == nil {
					content = fixtures.Read(t, "os-release", fixture)
				} else {
					content = []byte(synthetic[fixture])
				}
				require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), content, 0o644))
			}
			d := detect.Detector{HostRoot: root, Catalog: kernel.DefaultCatalog(), Uname: uname("5.14.0-570.el9.x86_64", "x86_64")}
			_, err := d.Detect(detect.Platform{})
			var ue *detect.UnsupportedError
			require.ErrorAs(t, err, &ue)
			require.Contains(t, err.Error(), detected)
			require.Contains(t, err.Error(), "centos stream9, stream10", "the message lists what is supported")
			require.Contains(t, err.Error(), "--distribution")
		})
	}
}

// synthetic os-release files for systems the shared fixtures do not hold,
// copied from the distributions' images.
var synthetic = map[string]string{
	"flatcar": `NAME="Flatcar Container Linux by Kinvolk"
ID=flatcar
ID_LIKE=coreos
VERSION=4081.2.0
VERSION_ID=4081.2.0
PRETTY_NAME="Flatcar Container Linux by Kinvolk 4081.2.0 (Oklo)"
`,
	"debian-sid": `PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
`,
	"ubuntu-20.04": `NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
`,
	"bottlerocket": `NAME=Bottlerocket
ID=bottlerocket
VERSION="1.19.2 (aws-k8s-1.29)"
PRETTY_NAME="Bottlerocket OS 1.19.2 (aws-k8s-1.29)"
VARIANT_ID=aws-k8s-1.29
VERSION_ID=1.19.2
`,
}

func TestDetectAlias(t *testing.T) {
	t.Parallel()
	d := detect.Detector{
		HostRoot: hostRoot(t, "rhel-9"), Catalog: kernel.DefaultCatalog(),
		Aliases: map[string]string{"rhel": "centos"}, Uname: uname("5.14.0-570.el9.x86_64", "x86_64"),
	}
	p, err := d.Detect(detect.Platform{})
	require.NoError(t, err)
	require.Equal(t, "centos", p.Distribution)
	require.Equal(t, "stream9", p.DistroVersion, "VERSION_ID 9.6 is major version 9")
}

func TestDetectOverrides(t *testing.T) {
	t.Parallel()
	cat := kernel.DefaultCatalog()
	for name, tc := range map[string]struct {
		fixture string
		over    detect.Platform
		want    detect.Platform
	}{
		"all given, os-release unsupported": {
			fixture: "rhel-9",
			over:    detect.Platform{Distribution: "centos", DistroVersion: "stream9", KernelRelease: "5.14.0-1.el9.x86_64", Arch: "amd64"},
			want:    detect.Platform{Distribution: "centos", DistroVersion: "stream9", KernelRelease: "5.14.0-1.el9.x86_64", Arch: "x86_64"},
		},
		"distribution only, unsupported os-release": {
			fixture: "amazonlinux-2",
			over:    detect.Platform{Distribution: "amazonlinux"},
			want:    detect.Platform{Distribution: "amazonlinux", KernelRelease: "6.1.0-1", Arch: "aarch64"},
		},
		"same distribution keeps detected version": {
			fixture: "ubuntu-22.04",
			over:    detect.Platform{Distribution: "ubuntu"},
			want:    detect.Platform{Distribution: "ubuntu", DistroVersion: "22.04", KernelRelease: "6.1.0-1", Arch: "aarch64"},
		},
		"other distribution drops detected version": {
			fixture: "ubuntu-22.04",
			over:    detect.Platform{Distribution: "debian"},
			want:    detect.Platform{Distribution: "debian", KernelRelease: "6.1.0-1", Arch: "aarch64"},
		},
		"version and kernel": {
			fixture: "ubuntu-22.04",
			over:    detect.Platform{DistroVersion: "24.04", KernelRelease: "6.8.0-1053-gcp", Arch: "arm64"},
			want:    detect.Platform{Distribution: "ubuntu", DistroVersion: "24.04", KernelRelease: "6.8.0-1053-gcp", Arch: "aarch64"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := detect.Detector{HostRoot: hostRoot(t, tc.fixture), Catalog: cat, Uname: uname("6.1.0-1", "aarch64")}
			p, err := d.Detect(tc.over)
			require.NoError(t, err)
			require.Equal(t, tc.want, p)
		})
	}
}

func TestDetectKernelFromHostRoot(t *testing.T) {
	t.Parallel()
	root := hostRoot(t, "fedora-42")
	d := detect.Detector{HostRoot: root, Catalog: kernel.DefaultCatalog(), Uname: uname("6.1.0-container", "x86_64")}

	p, err := d.Detect(detect.Platform{})
	require.NoError(t, err)
	require.Equal(t, "6.1.0-container", p.KernelRelease, "without <root>/proc, uname answers")

	require.NoError(t, os.MkdirAll(filepath.Join(root, "proc", "sys", "kernel"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc", "sys", "kernel", "osrelease"), []byte("6.15.5-200.fc42.x86_64\n"), 0o644))
	p, err = d.Detect(detect.Platform{})
	require.NoError(t, err)
	require.Equal(t, "6.15.5-200.fc42.x86_64", p.KernelRelease)
}

func TestDetectUnsupportedArch(t *testing.T) {
	t.Parallel()
	d := detect.Detector{HostRoot: hostRoot(t, "debian-13"), Catalog: kernel.DefaultCatalog(), Uname: uname("6.12.0", "riscv64")}
	_, err := d.Detect(detect.Platform{})
	var ue *detect.UnsupportedError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, `unsupported architecture: detected "riscv64"; supported are x86_64 and aarch64`, err.Error())
}

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	o, err := detect.ParseOSRelease(strings.NewReader("# comment\n\nID='Ubuntu'\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"A \\\"quoted\\\" name\"\nnot an assignment\n"))
	require.NoError(t, err)
	require.Equal(t, detect.OSRelease{ID: "ubuntu", VersionID: "24.04", PrettyName: `A "quoted" name`}, o)

	o, err = detect.ParseOSRelease(strings.NewReader("NAME=Linux\n"))
	require.NoError(t, err)
	require.Equal(t, "linux", o.ID, "os-release(5) defaults ID to linux")
}

func TestUnameRunningSystem(t *testing.T) {
	t.Parallel()
	release, machine, err := detect.Uname()
	require.NoError(t, err)
	require.NoError(t, kernel.ValidateRelease(release))
	require.NotEmpty(t, machine)
}
