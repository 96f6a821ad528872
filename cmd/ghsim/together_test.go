package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
	"github.com/stretchr/testify/require"
)

// TestThreeBinariesByHand runs ghsim, the build-service and the
// driver-loader as the README has a newcomer run them: built with go build,
// the service configured by the file ghsim writes. After a build, the
// loader downloads the package and verifies it, which it can only do with
// a real .deb holding a module for the kernel. The build is ghsim's
// simulation, or a -runner-command whose output ghsim uploads.
func TestThreeBinariesByHand(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/ghsim", "./cmd/build-service", "./cmd/driver-loader")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	// Compressed otherwise than the simulation's, so the two cannot be mistaken.
	pkg, err := fakedriver.Package(fakedriver.Spec{Format: kernel.FormatDeb, KernelRelease: "6.8.0-1053-gcp", DriverVersion: "v0.1.2", Arch: "x86_64", Compression: "xz"})
	require.NoError(t, err)
	prebuilt := filepath.Join(t.TempDir(), "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb")
	require.NoError(t, os.WriteFile(prebuilt, pkg, 0o600))
	runner := filepath.Join(t.TempDir(), "build.sh")
	require.NoError(t, os.WriteFile(runner, []byte(`#!/bin/sh
set -eu
echo "::group::Build driver"
test "$KERNEL_VERSION" = 6.8.0-1053-gcp
cp "$1" "$OUT_DIR/"
cd "$OUT_DIR" && sha256sum *.deb > "$(ls *.deb).sha256"
`), 0o700))

	for name, tc := range map[string]struct {
		flags []string
		want  []byte // the package the loader gets; nil: any .deb
	}{
		"simulated": {},
		"runner":    {[]string{"-runner-command", runner + " " + prebuilt}, pkg},
	} {
		t.Run(name, func(t *testing.T) { byHand(t, bin, tc.flags, tc.want) })
	}
}

func byHand(t *testing.T, bin string, ghsimFlags []string, want []byte) {
	var out []byte
	var err error

	work := t.TempDir()
	simAddr, svcAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start := func(name string, args ...string) *bytes.Buffer {
		var log bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = work, &log, &log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cancel()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", name, log.String())
			}
		})
		return &log
	}
	start("ghsim", append([]string{"-listen", simAddr, "-webhook-url", "http://" + svcAddr + "/api/github/hook",
		"-releases", "v0.1.2", "-build-duration", "500ms", "-write-config", "sim.yml"}, ghsimFlags...)...)
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(work, "sim.yml")); return err == nil },
		20*time.Second, 20*time.Millisecond, "ghsim writes sim.yml")
	start("build-service", "-config", "sim.yml", "-listen", svcAddr)
	service := "http://" + svcAddr

	request := `{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`
	var status struct {
		Status string `json:"status"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.Post(service+"/build", "application/json", strings.NewReader(request))
		if err != nil {
			return false // not listening yet
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&status) == nil && status.Status == "done"
	}, 60*time.Second, 200*time.Millisecond, "the build finishes")

	cache := t.TempDir()
	loader := exec.Command(filepath.Join(bin, "driver-loader"), "--dry-run", "--driver-version", "v0.1.2",
		"--service-url", service, "--release-url", "http://"+simAddr+"/riptides/driver/releases/download",
		"--cache-dir", cache, "--distribution", "ubuntu", "--distro-version", "24.04",
		"--kernel-release", "6.8.0-1053-gcp", "--arch", "x86_64")
	out, err = loader.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "downloaded and verified")
	require.Contains(t, string(out), "module matches the running kernel")

	pkg, err := os.ReadFile(filepath.Join(cache, "v0.1.2", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(pkg, []byte("!<arch>\ndebian-binary")), "a .deb is an ar archive led by debian-binary")
	if want != nil {
		require.Equal(t, want, pkg)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
