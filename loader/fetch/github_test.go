package fetch_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader/fetch"
)

// githubAPI is the REST subset for release assets: the release by tag,
// its assets page by page, and asset downloads that redirect to storage.
type githubAPI struct {
	mu       sync.Mutex
	tag      string           // of release 7; empty is v0.1.2
	assets   []map[string]any // all assets of release 7
	inline   int              // how many of them the release object lists
	storage  string
	requests []string // "path accept auth"
}

func (g *githubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("Accept")+" "+r.Header.Get("Authorization"))
	switch {
	case r.URL.Path == "/api/v3/repos/o/r/releases/tags/"+cmp.Or(g.tag, dv):
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 7, "assets": g.assets[:g.inline]})
	case r.URL.Path == "/api/v3/repos/o/r/releases/7/assets":
		var page int
		_, _ = fmt.Sscan(r.URL.Query().Get("page"), &page)
		lo, hi := min((page-1)*100, len(g.assets)), min(page*100, len(g.assets))
		_ = json.NewEncoder(w).Encode(g.assets[lo:hi])
	case strings.HasPrefix(r.URL.Path, "/api/v3/repos/o/r/releases/assets/") && r.Header.Get("Accept") == "application/octet-stream":
		http.Redirect(w, r, g.storage+"/blob/"+strings.TrimPrefix(r.URL.Path, "/api/v3/repos/o/r/releases/assets/"), http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

func TestGitHubAPI(t *testing.T) {
	t.Parallel()
	storage, storageURL := serve(t, map[string]string{
		"/dl/blob/1": string(body),
		"/dl/blob/2": sum(body) + "  " + pkg + "\n",
	})
	api := &githubAPI{storage: storageURL} // same host name, another port
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	for i := range 150 { // the package on the second page
		api.assets = append(api.assets, map[string]any{"name": fmt.Sprintf("other-%d.deb", i), "url": srv.URL + "/api/v3/repos/o/r/releases/assets/99"})
	}
	api.assets = append(api.assets,
		map[string]any{"name": pkg, "url": srv.URL + "/api/v3/repos/o/r/releases/assets/1"},
		map[string]any{"name": pkg + ".sha256", "url": srv.URL + "/api/v3/repos/o/r/releases/assets/2"},
	)
	api.inline = 30

	f := &fetch.Fetcher{
		Sources: []string{"https://github.com/o/r/releases/download"}, API: &fetch.GitHubAPI{URL: srv.URL + "/api/v3", Owner: "o", Repo: "r"},
		Token: "tok", CacheDir: t.TempDir(), Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
	}
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg})
	require.NoError(t, err)
	require.Equal(t, sum(body), res.SHA256, "verified against the .sha256 asset")
	require.Equal(t, []string{
		"/api/v3/repos/o/r/releases/tags/v0.1.2? application/vnd.github+json Bearer tok",
		"/api/v3/repos/o/r/releases/7/assets?per_page=100&page=1 application/vnd.github+json Bearer tok",
		"/api/v3/repos/o/r/releases/7/assets?per_page=100&page=2 application/vnd.github+json Bearer tok",
		"/api/v3/repos/o/r/releases/assets/1? application/octet-stream Bearer tok",
		"/api/v3/repos/o/r/releases/assets/2? application/octet-stream Bearer tok",
	}, api.requests)
	require.Equal(t, []string{"/dl/blob/1 ", "/dl/blob/2 "}, storage.requests(), "storage never sees the token")
}

func TestGitHubAPINotFound(t *testing.T) {
	t.Parallel()
	api := &githubAPI{assets: []map[string]any{{"name": "other.deb", "url": "x"}}, inline: 1}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	for tag, want := range map[string]string{
		dv:       "release v0.1.2 has no asset " + pkg,
		"v9.9.9": "release v9.9.9: package not found",
	} {
		f := &fetch.Fetcher{
			Sources: []string{"https://github.com/o/r/releases/download"}, API: &fetch.GitHubAPI{URL: srv.URL + "/api/v3", Owner: "o", Repo: "r"},
			Token: "tok", CacheDir: t.TempDir(), Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
		}
		_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: tag, Package: pkg})
		require.ErrorIs(t, err, fetch.ErrNotFound)
		require.ErrorContains(t, err, want)
	}
}
