package fetch_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/fetch"
)

// A driver version with shards: its package is computed to live in
// v0.2.0+shard.2 and is downloaded from there with no other request;
// mirrors are laid out the same way.
func TestFetchFromTheShard(t *testing.T) {
	t.Parallel()
	const (
		dv  = "v0.2.0"
		pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb"
	)
	shard := kernel.ReleaseTag(dv, pkg)
	require.Equal(t, "v0.2.0+shard.2", shard)
	files := map[string]string{
		"/dl/" + shard + "/" + pkg:             string(body),
		"/dl/" + shard + "/" + pkg + ".sha256": sum(body) + "\n",
	}
	r, src := serve(t, files)
	res, err := fetcher(t, src).Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg})
	require.NoError(t, err)
	require.Equal(t, src+"/v0.2.0+shard.2/"+pkg, res.URL)
	require.Equal(t, fetch.PackageURL(src, dv, pkg), res.URL)
	require.Equal(t, []string{"/dl/" + shard + "/" + pkg + " Bearer tok", "/dl/" + shard + "/" + pkg + ".sha256 Bearer tok"}, r.requests(), "the fast path: the package and its digest, nothing else")

	primary, src := serve(t, nil)
	mirror, mirrorSrc := serve(t, files)
	res, err = fetcher(t, src, mirrorSrc).Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Equal(t, mirrorSrc+"/v0.2.0+shard.2/"+pkg, res.URL, "the mirror has the release's layout")
	require.Equal(t, []string{"/dl/" + shard + "/" + pkg + " Bearer tok", "/dl/" + dv + "/" + pkg + " Bearer tok"}, primary.requests(), "the shard, then the plain release")
	require.Equal(t, []string{"/dl/" + shard + "/" + pkg + " "}, mirror.requests())
}

// A package published in the driver version's own release before the
// version had shards is still found there, after its shard's 404.
func TestFetchFromThePlainRelease(t *testing.T) {
	t.Parallel()
	const (
		dv  = "v0.2.0"
		pkg = "riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.2.0_amd64.rpm"
	)
	r, src := serve(t, map[string]string{
		"/dl/" + dv + "/" + pkg:             string(body),
		"/dl/" + dv + "/" + pkg + ".sha256": sum(body) + "\n",
	})
	res, err := fetcher(t, src).Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg})
	require.NoError(t, err)
	require.Equal(t, src+"/"+dv+"/"+pkg, res.URL)
	require.Equal(t, []string{
		"/dl/v0.2.0+shard.3/" + pkg + " Bearer tok",
		"/dl/" + dv + "/" + pkg + " Bearer tok",
		"/dl/" + dv + "/" + pkg + ".sha256 Bearer tok",
	}, r.requests())

	_, err = fetcher(t, src).Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: "riptides-driver-fedora-6.16.2-200.fc42.x86_64_v0.2.0_amd64.rpm"})
	require.ErrorIs(t, err, fetch.ErrNotFound, "in neither")
}

// Through the REST API (a private repository), the shard's release is
// asked for first, then the plain one.
func TestGitHubAPIShard(t *testing.T) {
	t.Parallel()
	const (
		dv  = "v0.2.0"
		pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb"
	)
	_, storageURL := serve(t, map[string]string{"/dl/blob/1": string(body), "/dl/blob/2": sum(body) + "\n"})
	for name, tc := range map[string]struct {
		tag  string
		asks []string
	}{
		"in its shard": {"v0.2.0+shard.2", []string{"/api/v3/repos/o/r/releases/tags/v0.2.0+shard.2?"}},
		"in the plain release": {dv, []string{
			"/api/v3/repos/o/r/releases/tags/v0.2.0+shard.2?", "/api/v3/repos/o/r/releases/tags/v0.2.0?",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := &githubAPI{tag: tc.tag, storage: storageURL, inline: 2}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			api.assets = []map[string]any{
				{"name": pkg, "url": srv.URL + "/api/v3/repos/o/r/releases/assets/1"},
				{"name": pkg + ".sha256", "url": srv.URL + "/api/v3/repos/o/r/releases/assets/2"},
			}
			f := &fetch.Fetcher{
				Sources: []string{"https://github.com/o/r/releases/download"}, API: &fetch.GitHubAPI{URL: srv.URL + "/api/v3", Owner: "o", Repo: "r"},
				Token: "tok", CacheDir: t.TempDir(), Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
			}
			res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg})
			require.NoError(t, err)
			require.Equal(t, sum(body), res.SHA256)
			var asked []string
			for _, r := range api.requests {
				if strings.Contains(r, "/releases/tags/") {
					asked = append(asked, strings.Fields(r)[0])
				}
			}
			require.Equal(t, tc.asks, asked)
		})
	}
}
