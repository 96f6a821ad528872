package matrix_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

const livepatchRepo = "testdata/livepatch"

var wantLivepatch = []matrix.Entry{
	{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "6.1.153-175.280.amzn2023.x86_64", Input: "kernel-livepatch-6.1.153-175.280-1.0-1.amzn2023.x86_64"},
	{Arch: "aarch64", Target: "amazonlinux2023", KernelRelease: "6.1.153-175.280.amzn2023.aarch64", Input: "kernel-livepatch-6.1.153-175.280-1.0-1.amzn2023.aarch64"},
	{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "6.12.58-82.121.amzn2023.x86_64", Input: "kernel-livepatch-6.12.58-82.121-1.0-3.amzn2023.x86_64"},
	{Arch: "x86_64", Target: "amazonlinux2023", KernelRelease: "6.18.25-57.109.amzn2023.x86_64", Input: "kernel-livepatch-6.18.25-57.109-1.0-3.amzn2023.x86_64"},
}

var wantLivepatchSkipped = []matrix.Skipped{{
	KernelRelease: "kernel-livepatch-devel-1.0-1.amzn2023.x86_64", Target: "amazonlinux2023",
	Reason: "livepatch package does not name its kernel as kernel-livepatch-<version>-<release> with version-release <v>-<n>.amzn2023 on x86_64 or aarch64",
}}

func TestLivepatchDir(t *testing.T) {
	t.Parallel()
	entries, skipped, err := matrix.Livepatch(context.Background(), livepatchRepo)
	require.NoError(t, err)
	require.Equal(t, wantLivepatch, entries)
	require.Equal(t, wantLivepatchSkipped, skipped)
}

func TestLivepatchURL(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		requests []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/mirrors/mirror.list" {
			_, _ = w.Write([]byte("# mirrors\n\nhttp://" + r.Host + "/repo/x86_64/\n"))
			return
		}
		http.StripPrefix("/repo/x86_64/", http.FileServer(http.Dir(livepatchRepo))).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	for name, repo := range map[string]string{
		"base URL":    srv.URL + "/repo/x86_64",
		"mirror list": srv.URL + "/mirrors/mirror.list",
	} {
		mu.Lock()
		requests = nil
		mu.Unlock()
		entries, skipped, err := matrix.Livepatch(context.Background(), repo)
		require.NoError(t, err, name)
		require.Equal(t, wantLivepatch, entries, name)
		require.Equal(t, wantLivepatchSkipped, skipped, name)
		mu.Lock()
		require.Contains(t, requests, "/repo/x86_64/repodata/repomd.xml", name)
		mu.Unlock()
	}

	_, _, err := matrix.Livepatch(context.Background(), srv.URL+"/nothing")
	require.ErrorContains(t, err, "404")
}

func TestLivepatchBadMetadata(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		change func(t *testing.T, dir string)
		says   string
	}{
		"checksum mismatch": {func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "repodata", "repomd.xml"), `<checksum type="sha256">5`, `<checksum type="sha256">6`)
		}, "repomd.xml says"},
		"no primary": {func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "repodata", "repomd.xml"), `type="primary"`, `type="other"`)
		}, "has no primary data"},
		"escaping location": {func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "repodata", "repomd.xml"), `href="repodata/`, `href="../../`)
		}, "is not a relative path"},
		"no repomd": {func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "repodata", "repomd.xml")))
		}, "livepatch repository metadata"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS(livepatchRepo)))
			tc.change(t, dir)
			_, _, err := matrix.Livepatch(context.Background(), dir)
			require.ErrorContains(t, err, tc.says)
		})
	}
}

func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// Livepatch kernels merge into kernels.json's: one already listed is one
// job, the others are added.
func TestLivepatchMerge(t *testing.T) {
	t.Parallel()
	k, err := matrix.ParseKernels([]byte(`{"x86_64": [
		{"target": "amazonlinux", "kernelrelease": "6.1.153-175.280.amzn2023.x86_64", "distroversion": "2023"},
		{"target": "fedora", "kernelrelease": "6.15.5-200.fc42.x86_64"}]}`))
	require.NoError(t, err)
	lp, lpSkipped, err := matrix.Livepatch(context.Background(), livepatchRepo)
	require.NoError(t, err)
	res, err := matrix.Build(append(k.Entries(), lp...), lpSkipped, options())
	require.NoError(t, err)
	var got []string
	for _, j := range jobs(res) {
		got = append(got, j.Distribution+" "+j.DistroVersion+" "+j.Architecture+" "+j.KernelVersion)
	}
	require.Equal(t, []string{
		"amazonlinux 2023 aarch64 6.1.153-175.280.amzn2023.aarch64",
		"amazonlinux 2023 x86_64 6.1.153-175.280.amzn2023.x86_64",
		"amazonlinux 2023 x86_64 6.12.58-82.121.amzn2023.x86_64",
		"amazonlinux 2023 x86_64 6.18.25-57.109.amzn2023.x86_64",
		"fedora 42 x86_64 6.15.5-200.fc42.x86_64",
	}, got)
	require.Equal(t, wantLivepatchSkipped, res.Skipped)
	for _, j := range jobs(res) {
		require.NoError(t, kernel.ValidateRelease(j.KernelVersion))
	}
}
