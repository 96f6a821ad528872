package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// output is the interface the nightly workflow and the checks rely on.
type output struct {
	Chunks []struct {
		Include []map[string]string `json:"include"`
	} `json:"chunks"`
	Skipped []map[string]string `json:"skipped"`
}

func decode(t *testing.T, stdout string) output {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var o output
	require.NoError(t, dec.Decode(&o))
	require.False(t, dec.More(), "one JSON object")
	return o
}

func TestGenerateFromCrawlerFixture(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := runCmd(t, "--kernel-crawler", fixtures.Path(t, "kernel-crawler", "x86_64-list.2022-08-29.json"), "--driver-version", "v0.1.2")
	require.NoError(t, err)
	o := decode(t, stdout)
	require.Len(t, o.Chunks, 1)
	require.Len(t, o.Chunks[0].Include, 100)
	for _, e := range o.Chunks[0].Include {
		require.ElementsMatch(t, []string{"kernel_version", "architecture", "distribution", "distro_version", "driver_version"}, keys(e))
	}
	require.NotEmpty(t, o.Skipped)
	for _, s := range o.Skipped {
		require.ElementsMatch(t, []string{"kernelrelease", "target", "reason"}, keys(s))
		require.NotEmpty(t, s["reason"])
	}
	require.Contains(t, stderr, "100 kernels: 0 already released, 100 to build in 1 chunks")
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGenerateFromKernelsJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kernels := filepath.Join(dir, "kernels.json")
	require.NoError(t, os.WriteFile(kernels, []byte(`{"x86_64": [
		{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"},
		{"target": "ubuntu", "kernelrelease": "6.14.0-37-generic", "distroversion": "24.04"}]}`), 0o644))
	existing := filepath.Join(dir, "existing.txt")
	require.NoError(t, os.WriteFile(existing, []byte("riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm\nriptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm.sha256\n"), 0o644))

	stdout, _, err := runCmd(t, "--kernels-json", kernels, "--driver-version", "v0.1.2", "--existing", existing, "--livepatch-repo", "../../matrix/testdata/livepatch")
	require.NoError(t, err)
	o := decode(t, stdout)
	require.Len(t, o.Chunks, 1)
	var got []string
	for _, e := range o.Chunks[0].Include {
		got = append(got, e["distribution"]+" "+e["kernel_version"])
	}
	require.Equal(t, []string{
		"amazonlinux 6.1.153-175.280.amzn2023.aarch64",
		"amazonlinux 6.1.153-175.280.amzn2023.x86_64",
		"amazonlinux 6.12.58-82.121.amzn2023.x86_64",
		"amazonlinux 6.18.25-57.109.amzn2023.x86_64",
		"ubuntu 6.14.0-37-generic",
	}, got, "fedora is released already")
	require.Len(t, o.Skipped, 1)

	stdout, _, err = runCmd(t, "--kernels-json", kernels, "--driver-version", "v0.1.2", "--all")
	require.NoError(t, err)
	require.Len(t, decode(t, stdout).Chunks[0].Include, 2)
}

func TestGenerateFromURLAndGitHub(t *testing.T) {
	t.Parallel()
	crawler := fixtures.Read(t, "kernel-crawler", "x86_64-list.2022-08-29.json")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /kernels/x86_64/list.json", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(crawler) })
	mux.HandleFunc("GET /api/repos/acme/drivers/releases/tags/v0.1.2", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": 1}`)
	})
	mux.HandleFunc("GET /api/repos/acme/drivers/releases/1/assets", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"name": "riptides-driver-ubuntu-5.15.0-41-generic_v0.1.2_amd64.deb"}, {"name": "riptides-driver-ubuntu-5.15.0-41-generic_v0.1.2_amd64.deb.sha256"},
			{"name": "riptides-driver-centos-5.14.0-148.el9.x86_64_v0.1.2_amd64.rpm"}, {"name": "riptides-driver-centos-5.14.0-148.el9.x86_64_v0.1.2_amd64.rpm.sha256"}]`)
	})
	mux.HandleFunc("GET /api/repos/acme/drivers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": 7, "full_name": "acme/drivers"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, _, err := runCmd(t, "--kernel-crawler", srv.URL+"/kernels/x86_64/list.json", "--driver-version", "v0.1.3", "--repo", "acme/drivers", "--api-url", srv.URL+"/api")
	require.ErrorContains(t, err, "acme/drivers has no release v0.1.3", "without the release every upload would fail")

	stdout, stderr, err := runCmd(t, "--kernel-crawler", srv.URL+"/kernels/x86_64/list.json", "--driver-version", "v0.1.2", "--repo", "acme/drivers", "--api-url", srv.URL+"/api", "--chunk-size", "40")
	require.NoError(t, err)
	o := decode(t, stdout)
	require.Len(t, o.Chunks, 3)
	require.Len(t, o.Chunks[2].Include, 18)
	require.Contains(t, stderr, "100 kernels: 2 already released, 98 to build in 3 chunks")

	_, _, err = runCmd(t, "--kernel-crawler", srv.URL+"/missing.json", "--driver-version", "v0.1.2")
	require.ErrorContains(t, err, "404")
}

func TestGenerateRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		says string
	}{
		"two sources":        {[]string{"--kernels-json", "k.json", "--kernel-crawler", "c.json", "--driver-version", "v0.1.2"}, "exclude each other"},
		"all and existing":   {[]string{"--all", "--existing", "e.txt", "--driver-version", "v0.1.2"}, "--all rebuilds everything"},
		"existing and repo":  {[]string{"--existing", "e.txt", "--repo", "a/b", "--driver-version", "v0.1.2"}, "exclude each other"},
		"no driver version":  {[]string{"--kernels-json", "../../.github/kernels.json"}, "driver_version: is required"},
		"bad arch":           {[]string{"--arch", "i386", "--driver-version", "v0.1.2"}, "--arch"},
		"bad repo":           {[]string{"--kernels-json", "../../.github/kernels.json", "--repo", "nobody", "--driver-version", "v0.1.2"}, "accepted is OWNER/NAME"},
		"stray argument":     {[]string{"generate"}, `unexpected argument "generate"`},
		"missing file":       {[]string{"--kernels-json", "nope.json", "--driver-version", "v0.1.2"}, "nope.json"},
		"chunk size too big": {[]string{"--kernels-json", "../../.github/kernels.json", "--driver-version", "v0.1.2", "--chunk-size", "300"}, "accepted are 1 to 256"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runCmd(t, tc.args...)
			require.ErrorContains(t, err, tc.says)
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	stdout, _, err := runCmd(t, "validate", "../../.github/kernels.json")
	require.NoError(t, err)
	require.Contains(t, stdout, "kernels, valid")

	bad := filepath.Join(t.TempDir(), "kernels.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"x86_64": [
		{"target": "ubuntu", "kernelrelease": "6.8.0-40-generic", "distroversion": "24.04"},
		{"target": "rhel", "kernelrelease": "5.14.0-596.el9.x86_64"}]}`), 0o644))
	_, _, err = runCmd(t, "validate", bad)
	require.ErrorContains(t, err, "is not valid")
	require.ErrorContains(t, err, "distribution rhel is not supported")
	require.ErrorContains(t, err, "not sorted")
}

func TestName(t *testing.T) {
	t.Parallel()
	args := []string{"name", "--kernel-version", "6.8.0-1053-gcp", "--architecture", "amd64", "--distribution", "ubuntu", "--distro-version", "22.04", "--driver-version", "v0.1.2"}
	stdout, _, err := runCmd(t, args...)
	require.NoError(t, err)
	require.Equal(t, "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb\n", stdout)

	stdout, _, err = runCmd(t, append(args, "--github-output")...)
	require.NoError(t, err)
	require.Equal(t, `kernel_version=6.8.0-1053-gcp
architecture=x86_64
distribution=ubuntu
distro_version=22.04
driver_version=v0.1.2
package=riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb
format=deb
pkgarch=amd64
prefix=riptides-driver
`, stdout)

	stdout, _, err = runCmd(t, "name", "--kernel-version", "6.1.102-108.177.amzn2023.aarch64", "--architecture", "aarch64", "--distribution", "amazonlinux", "--distro-version", "2023", "--driver-version", "v0.1.2", "--package-prefix", "acme")
	require.NoError(t, err)
	require.Equal(t, "acme-amazonlinux-6.1.102-108.177.amzn2023.aarch64_v0.1.2_arm64.rpm\n", stdout)

	for name, tc := range map[string]struct {
		args []string
		says string
	}{
		"shell in kernel": {[]string{"--kernel-version", "6.8.0$(id)", "--architecture", "x86_64", "--distribution", "ubuntu", "--distro-version", "24.04", "--driver-version", "v0.1.2"}, "kernel_version"},
		"newline":         {[]string{"--kernel-version", "6.8.0-40-generic\npackage=evil", "--architecture", "x86_64", "--distribution", "ubuntu", "--distro-version", "24.04", "--driver-version", "v0.1.2"}, "kernel_version"},
		"unknown distro":  {[]string{"--kernel-version", "6.8.0-40-generic", "--architecture", "x86_64", "--distribution", "arch", "--distro-version", "1", "--driver-version", "v0.1.2"}, "distribution"},
		"bad template":    {[]string{"--kernel-version", "6.8.0-40-generic", "--architecture", "x86_64", "--distribution", "ubuntu", "--distro-version", "24.04", "--driver-version", "v0.1.2", "--name-template", "{prefix}/x"}, "name template"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runCmd(t, append([]string{"name"}, tc.args...)...)
			require.ErrorContains(t, err, tc.says)
		})
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	stdout, _, err := runCmd(t, "images")
	require.NoError(t, err)
	var m struct {
		Include []struct {
			Distribution  string `json:"distribution"`
			DistroVersion string `json:"distro_version"`
		} `json:"include"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &m))
	var got []string
	for _, i := range m.Include {
		got = append(got, i.Distribution+":"+i.DistroVersion)
		_, err := os.Stat(filepath.Join("..", "..", "images", "Dockerfile.base."+i.Distribution))
		require.NoError(t, err, "every supported distribution has a base image")
	}
	require.Equal(t, []string{"amazonlinux:2023", "centos:stream9", "centos:stream10", "debian:12", "debian:13", "fedora:42", "fedora:43", "ubuntu:22.04", "ubuntu:24.04", "ubuntu:25.10", "ubuntu:26.04"}, got)
}

func TestRelease(t *testing.T) {
	t.Parallel()
	const pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb"
	stdout, _, err := runCmd(t, "release", "--driver-version", "v0.2.0", "--package", pkg)
	require.NoError(t, err)
	require.Equal(t, kernel.ReleaseTag("v0.2.0", pkg)+"\n", stdout)

	stdout, _, err = runCmd(t, "release", "--driver-version", "v0.2.0", "--package", pkg, "--github-output")
	require.NoError(t, err)
	require.Equal(t, "release=v0.2.0+shard.2\nshard=2\nshards=8\n", stdout)

	stdout, _, err = runCmd(t, "release", "--driver-version", "v0.1.2", "--package", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb", "--github-output")
	require.NoError(t, err)
	require.Equal(t, "release=v0.1.2\nshard=0\nshards=0\n", stdout, "a driver version without shards")

	for name, tc := range map[string]struct {
		args []string
		says string
	}{
		"no driver version": {[]string{"--package", pkg}, "driver_version: is required"},
		"a shard tag":       {[]string{"--driver-version", "v0.2.0+shard.2", "--package", pkg}, "is not a driver version"},
		"hostile package":   {[]string{"--driver-version", "v0.2.0", "--package", "x.deb; rm -rf /"}, "is not a package file name"},
		"no package":        {[]string{"--driver-version", "v0.2.0"}, "is not a package file name"},
	} {
		_, _, err := runCmd(t, append([]string{"release"}, tc.args...)...)
		require.ErrorContains(t, err, tc.says, name)
	}
}
