package images_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
)

// nativeEnv is build-native.sh's environment as ghsim's runner sets it, on
// a host whose os-release is the fixture named.
func nativeEnv(t *testing.T, host, distribution, version, arch, release string) *env {
	t.Helper()
	e := newEnv(t, distribution, version, arch, release)
	for _, k := range []string{"KVERSION", "ARCH"} {
		delete(e.vars, k)
	}
	e.vars["KERNEL_VERSION"] = release
	e.vars["ARCHITECTURE"] = arch
	e.vars["DRIVER_VERSION"] = "v0.1.2"
	e.vars["BUILD_ID"] = "0193a3c4-0000-7000-8000-000000000001"
	e.vars["OUT_DIR"] = filepath.Join(e.dir, "out")
	e.vars["OS_RELEASE"] = fixtures.Path(t, "os-release", host)
	e.vars["FAKE_MACHINE"] = "x86_64"
	e.repo("FAKE_APT_REPO", "linux-headers-"+release+" "+release)
	// matrix-gen runs with this test's Go caches and nothing else: the
	// proxy variables above already keep it off the network.
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", k).Output()
		require.NoError(t, err)
		e.vars[k] = strings.TrimSpace(string(out))
	}
	e.vars["GOPROXY"] = "off"
	e.vars["GOTOOLCHAIN"] = "local"
	return e
}

func TestBuildNative(t *testing.T) {
	t.Parallel()
	const release = "6.1.0-57-amd64"
	for name, arch := range map[string]string{"x86_64": "x86_64", "amd64 spelling": "amd64"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := nativeEnv(t, "debian-12", "debian", "12", arch, release)
			_, stderr, err := e.run("build-native.sh")
			require.NoError(t, err, stderr)
			var steps []string
			for l := range strings.Lines(stderr) {
				if name, ok := strings.CutPrefix(strings.TrimSpace(l), "::group::"); ok {
					steps = append(steps, name)
				}
			}
			require.Equal(t, []string{"Install kernel headers", "Build driver", "Package"}, steps, "the job steps ghsim's runner shows")

			// Built from a copy: the checkout's driver/ gets no objects.
			var made string
			for _, c := range e.commands() {
				if strings.HasPrefix(c, "make ") {
					made = c
				}
			}
			require.Contains(t, made, "-C "+e.sysroot+"/usr/src/linux-headers-"+release+" M=")
			require.NotContains(t, made, "M="+filepath.Join("..", "driver"))
			_, err = os.Stat(filepath.Join("..", "driver", "riptides.ko"))
			require.ErrorIs(t, err, os.ErrNotExist)

			const pkg = "riptides-driver-debian-" + release + "_v0.1.2_amd64.deb"
			data := checkSum(t, e.vars["OUT_DIR"], pkg)
			members := arMembers(t, data)
			control := tarFiles(t, members, "control.tar")
			require.Contains(t, string(control["./control"]), "Package: riptides-driver-"+release+"\n")
			require.Contains(t, string(control["./control"]), "Architecture: amd64\n")
			files := tarFiles(t, members, "data.tar")
			require.Equal(t, "module riptides.ko for "+release+"\n", string(files["./lib/modules/"+release+"/extra/riptides.ko"]))
		})
	}
}

func TestBuildNativeRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		host, distribution, version, release string
		says                                 string
	}{
		"another version":      {"debian-13", "debian", "12", "6.1.0-57-amd64", "this machine runs debian 13, not debian 12"},
		"another distribution": {"debian-12", "ubuntu", "24.04", "6.8.0-40-generic", "this machine runs debian 12, not ubuntu 24.04"},
		"an rpm distribution":  {"fedora-42", "fedora", "42", "6.15.5-200.fc42.x86_64", "native builds are for debian and ubuntu"},
		"hostile release":      {"debian-12", "debian", "12", "6.1.0-57-amd64;id", "matrix-gen refused the inputs"},
		"release of another":   {"debian-12", "debian", "12", "6.12.57+deb13-amd64", "matrix-gen refused the inputs"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := nativeEnv(t, tc.host, tc.distribution, tc.version, "x86_64", tc.release)
			_, stderr, err := e.run("build-native.sh")
			require.Error(t, err)
			require.Contains(t, stderr, tc.says)
			require.NoDirExists(t, e.vars["OUT_DIR"])
			for _, c := range e.commands() {
				require.False(t, strings.HasPrefix(c, "apt-get install"), "nothing installed: %s", c)
			}
		})
	}
}
