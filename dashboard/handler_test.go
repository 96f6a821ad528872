package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/dashboard"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store/storetest"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestHandler(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	c := &clock{t: t0}
	mux := http.NewServeMux()
	dashboard.New(st, `riptides/<driver>`, false, c.now).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	inFlight := func() []dashboard.InFlight {
		resp, body := get("/api/dashboard")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var v dashboard.View
		require.NoError(t, json.Unmarshal([]byte(body), &v))
		return v.InFlight
	}

	resp, page := get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "<title>driverbuild · riptides/&lt;driver&gt;</title>", "the repository's name is text, not markup")
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'sha256-", "only the page's own script may run")
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, page, "src=\"http", "no external asset")
	resp, _ = get("/nothing")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the page is at / only")

	require.Empty(t, inFlight())
	history(t, st, "ubuntu", "6.8.0-9", t0.Add(-time.Minute), 0, lifecycle.StatusInProgress, "build: Set up job")
	require.Empty(t, inFlight(), "pages within a second share one read")
	c.add(time.Second)
	require.Len(t, inFlight(), 1, "a second later the page reads again")
	require.Equal(t, "Set up job", inFlight()[0].Step)
}
