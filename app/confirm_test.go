package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/internal/e2e"
)

const listAssetsRoute = "GET /api/v3/repos/{owner}/{repo}/releases/{release_id}/assets"

// A run's success is confirmed at the package's download URL, with no API
// call, and by the release's listing where downloads need credentials;
// either way the build ends done with the digest of what is published.
func TestRunSuccessIsConfirmed(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		private, derived bool
		listings         func(n int64) bool
	}{
		"at the download URL": {
			listings: func(n int64) bool { return n == 0 },
		},
		// A Config built in code, without web_url: it follows v3_api_url.
		"at the download URL the API URL implies": {
			derived:  true,
			listings: func(n int64) bool { return n == 0 },
		},
		"by the listing where downloads need credentials": {
			private:  true,
			listings: func(n int64) bool { return n >= 1 },
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A private repository's download URLs answer 404.
			var asked atomic.Int64
			private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				http.NotFound(w, r)
			}))
			t.Cleanup(private.Close)
			env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
				if tc.private {
					c.GitHub.WebURL = private.URL + "/"
				}
				if tc.derived {
					c.GitHub.WebURL = ""
				}
				c.Builds.PollInterval = time.Hour // webhooks only: the poller's reads are not what is counted
			}})
			before := env.Sim.Stats().ByRoute[listAssetsRoute]
			code, accepted := post(t, env, request("6.8.0-1053-gcp"))
			require.Equal(t, http.StatusAccepted, code)
			waitFor(t, env, accepted.BuildID, terminal)
			done := getStatus(t, env, accepted.BuildID)
			require.Equal(t, "done", done.Status, done.Reason)
			listings := env.Sim.Stats().ByRoute[listAssetsRoute] - before
			assert.True(t, tc.listings(listings), "%d asset listings", listings)
			if tc.private {
				assert.EqualValues(t, 1, asked.Load(), "the download URL that said absent is not asked again")
			}

			resp, err := http.Get(done.DownloadURL)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, done.DownloadURL)
			pkg, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			sum := sha256.Sum256(pkg)
			assert.Equal(t, hex.EncodeToString(sum[:]), done.SHA256)

			code, cached := post(t, env, request("6.8.0-1053-gcp"))
			require.Equal(t, http.StatusOK, code, "the package is in the index")
			assert.Equal(t, done.DownloadURL, cached.DownloadURL)
			assert.Equal(t, done.SHA256, cached.SHA256)
		})
	}
}
