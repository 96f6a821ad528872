package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/loader"
)

// unreachable is a release URL nothing listens on.
const unreachable = "http://127.0.0.1:1/releases"

func fast() backoff.BackOff { return &backoff.ZeroBackOff{} }

type outcome struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) outcome {
	t.Helper()
	var stdout, stderr strings.Builder
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(context.Background(), args, &stdout, &stderr, lookup, func(l *loader.Loader) {
		l.Uname = func() (string, string, error) { return "6.8.0-1053-gcp", "x86_64", nil }
		l.Backoff = fast
	})
	return outcome{code, stdout.String(), stderr.String()}
}

func hostRoot(t *testing.T, fixture string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), fixtures.Read(t, "os-release", fixture), 0o644))
	return root
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	root := hostRoot(t, "ubuntu-24.04")
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte("driver_version: v0.1.0\nrelease_url: "+unreachable+"\ncache_dir: "+t.TempDir()+"\n"), 0o644))
	base := []string{"--dry-run", "--host-root", root, "--config", config}
	pkg := func(v string) string { return "package: riptides-driver-ubuntu-6.8.0-1053-gcp_" + v + "_amd64.deb\n" }

	o := runCLI(t, nil, base...)
	require.Equal(t, 0, o.code, o.stderr)
	require.True(t, strings.HasPrefix(o.stdout, pkg("v0.1.0")), o.stdout)

	env := map[string]string{"DRIVER_LOADER_DRIVER_VERSION": "v0.2.0"}
	o = runCLI(t, env, base...)
	require.True(t, strings.HasPrefix(o.stdout, pkg("v0.2.0")), o.stdout)

	o = runCLI(t, env, append(base, "--driver-version", "v0.3.0")...)
	require.True(t, strings.HasPrefix(o.stdout, pkg("v0.3.0")), o.stdout)

	o = runCLI(t, env, append(base, "--kernel-release", "6.8.0-1060-aws", "--arch", "arm64", "--distro-version", "22.04")...)
	require.True(t, strings.HasPrefix(o.stdout, "package: riptides-driver-ubuntu-6.8.0-1060-aws_v0.2.0_arm64.deb\n"), o.stdout)
	require.Contains(t, o.stdout, "platform: ubuntu 22.04, kernel 6.8.0-1060-aws, aarch64\n")

	// DRIVER_LOADER_CONFIG names the file when the flag does not.
	o = runCLI(t, map[string]string{"DRIVER_LOADER_CONFIG": config}, "--dry-run", "--host-root", root)
	require.True(t, strings.HasPrefix(o.stdout, pkg("v0.1.0")), o.stdout)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	badConfig := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(badConfig, []byte("relase_url: https://example.com\n"), 0o644))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown flag":       {[]string{"--frobnicate"}, "flag provided but not defined"},
		"argument":           {[]string{"load"}, "takes no arguments"},
		"mode":               {[]string{"--mode", "vm"}, `--mode \"vm\": accepted are host and container`},
		"driver version":     {[]string{"--driver-version", "1.2"}, "accepted is vMAJOR.MINOR.PATCH"},
		"release url":        {[]string{"--release-url", "ftp://x"}, "want an http or https URL"},
		"config typo":        {[]string{"--config", badConfig}, "field relase_url not found"},
		"missing config":     {[]string{"--config", "/nonexistent/config.yaml"}, "no such file"},
		"log format":         {[]string{"--log-format", "xml"}, `--log-format "xml": accepted are console and json`},
		"negative timeout":   {[]string{"--build-timeout", "-1m"}, "must be positive"},
		"missing token file": {[]string{"--service-token-file", "/nonexistent/token"}, "token file"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := runCLI(t, nil, append(tc.args, "--cache-dir", t.TempDir())...)
			require.Equal(t, loader.ExitUsage, o.code)
			require.Contains(t, o.stderr, tc.want)
			require.Empty(t, o.stdout)
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	o := runCLI(t, nil, "-h")
	require.Equal(t, 0, o.code)
	for _, f := range []string{"--host-root", "--kernel-release", "--arch", "--distribution", "--distro-version", "--driver-version", "--service-url", "--release-url", "--cache-dir", "--mode", "--dry-run"} {
		require.Contains(t, o.stderr, "  -"+strings.TrimPrefix(f, "--"), f)
	}
}

func TestJSONLogs(t *testing.T) {
	t.Parallel()
	o := runCLI(t, nil, "--dry-run", "--log-format", "json", "--host-root", hostRoot(t, "rhel-9"), "--cache-dir", t.TempDir())
	require.Equal(t, loader.ExitUnsupported, o.code)
	sc := bufio.NewScanner(strings.NewReader(o.stderr))
	var last map[string]any
	for sc.Scan() {
		last = map[string]any{}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &last), sc.Text())
		require.Contains(t, last, "level")
	}
	require.Equal(t, "error", last["level"])
	require.EqualValues(t, loader.ExitUnsupported, last["exit_code"])
	require.Contains(t, last["error"], `unsupported distribution: detected Red Hat Enterprise Linux 9.6 (Plow)`)
}

// TestDryRunOnThisMachine runs as a newcomer would, on whatever this
// machine is, offline: the package line comes first, or the platform is
// named as unsupported.
func TestDryRunOnThisMachine(t *testing.T) {
	t.Parallel()
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--dry-run", "--release-url", unreachable, "--cache-dir", t.TempDir()},
		&stdout, &stderr, func(string) (string, bool) { return "", false }, func(l *loader.Loader) { l.Backoff = fast })
	if code == loader.ExitUnsupported {
		require.Contains(t, stderr.String(), "unsupported")
		return
	}
	require.Equal(t, loader.ExitOK, code, stderr.String())
	first, _, _ := strings.Cut(stdout.String(), "\n")
	require.Regexp(t, `^package: riptides-driver-[a-z]+-\S+_v0\.0\.0-dev_(amd64|arm64)\.(deb|rpm)$`, first)
	require.Contains(t, stdout.String(), "could not reach the release")
}
