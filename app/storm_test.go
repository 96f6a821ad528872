package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// TestBootStorm is a fleet booting together on a kernel nobody has built:
// 2,000 clients (200 under the race detector), each on its own connection,
// post the same request until they get the package. The build is shorter
// than the storm, so requests that found no package before it ended arrive
// after: they must get the package too, never a second build.
func TestBootStorm(t *testing.T) {
	t.Parallel()
	clients := 2000
	if raceDetector {
		clients = 200
	}
	const retryPause = 250 * time.Millisecond
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		// The rate limit is not what this storm is about (see
		// TestBootStormIsServed): these clients ask again at once.
		env := e2e.Start(t, e2e.Options{Store: open, BuildDuration: time.Second, NoRateLimit: true})
		body := request("6.8.0-2000-gcp")
		pkg := "riptides-driver-ubuntu-6.8.0-2000-gcp_v0.1.2_amd64.deb"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		defer client.CloseIdleConnections()
		// Bounds a storm that never ends, which the answers then show.
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()

		// answer is one client's view of the storm.
		type answer struct {
			accepted map[string]int // build id -> 202s naming it
			other    []string       // anything but a 202 or the package
			got      status         // the 200 that ended it
		}
		answers := make([]answer, clients)
		var wg sync.WaitGroup
		for i := range answers {
			a := &answers[i]
			a.accepted = map[string]int{}
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.ServiceURL+"/build", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						a.other = append(a.other, err.Error())
						return
					}
					var s status
					err = json.NewDecoder(resp.Body).Decode(&s)
					resp.Body.Close()
					switch {
					case err != nil:
						a.other = append(a.other, err.Error())
					case resp.StatusCode == http.StatusAccepted:
						a.accepted[s.BuildID]++
						// A loader waits before it asks again; without a
						// pause 2,000 clients on 2 cores starve the webhook
						// that ends the build, which is no storm a fleet makes.
						select {
						case <-ctx.Done():
						case <-time.After(retryPause):
						}
					case resp.StatusCode == http.StatusOK && s.Status == "done":
						a.got = s
						return
					default:
						a.other = append(a.other, resp.Status+" "+s.Status+" "+s.Error)
					}
				}
			})
		}
		wg.Wait()

		builds := map[string]int{}
		for i, a := range answers {
			require.Empty(t, a.other, "client %d", i)
			require.Equal(t, env.PackageURL("v0.1.2", pkg), a.got.DownloadURL, "client %d", i)
			require.NotEmpty(t, a.got.SHA256, "client %d", i)
			for id, n := range a.accepted {
				builds[id] += n
			}
		}
		require.Len(t, builds, 1, "build ids answered: %v", builds)
		require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
		for id := range builds {
			// The package may be in the release, and so answered, a little
			// before the run's completed webhook ends the build.
			var b store.Build
			require.Eventually(t, func() bool {
				var err error
				b, err = env.Store.BuildByID(t.Context(), id)
				return err == nil && b.Status == "done"
			}, 30*time.Second, 20*time.Millisecond, "the build ends done")
			latest, err := env.Store.BuildLatestByKey(t.Context(), b.CacheKey)
			require.NoError(t, err)
			require.Equal(t, id, latest.ID, "the key has no build but the one answered")
		}
	})
}
