package ghsim

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAreasDoNotWaitOnEachOther holds one area's lock and requests the
// other areas: each answers, where one lock over all state would leave
// them waiting until the client gives up.
func TestAreasDoNotWaitOnEachOther(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Releases: []string{"v0.1.2"}})
	require.NoError(t, err)
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { require.NoError(t, sim.Close()) })
	sim.SetBaseURL(ts.URL)
	const token = "ghs_areas"
	sim.auth.tokens[token] = installationToken{installationID: sim.cfg.InstallationID, expires: time.Now().Add(time.Hour)}

	repo := ts.URL + "/api/v3/repos/riptides/driver"
	routes := map[string]string{
		"releases": repo + "/releases",
		"actions":  repo + "/actions/runs",
		"git":      repo + "/git/ref/heads/main",
		"contents": repo + "/contents/.github/kernels.json",
	}
	locks := map[string]sync.Locker{
		"releases": &sim.rel.mu, "actions": &sim.act.mu, "git": &sim.repo.mu, "contents": &sim.repo.mu, "webhooks": &sim.hooks.mu,
	}
	// The timeout is a safety net: a request that waits on a held lock
	// never answers.
	client := &http.Client{Timeout: 10 * time.Second}
	for held, lock := range locks {
		t.Run(held, func(t *testing.T) {
			lock.Lock()
			defer lock.Unlock()
			for area, url := range routes {
				if locks[area] == lock {
					continue
				}
				req, err := http.NewRequest(http.MethodGet, url, nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "token "+token)
				resp, err := client.Do(req)
				require.NoError(t, err, "%s while %s is held", area, held)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, area)
			}
		})
	}
}
