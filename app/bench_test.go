package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// BenchmarkAPI measures the loader's hot paths over real HTTP: a package
// that exists (answered from the asset index, no GitHub call), a request
// that joins a running build, and a status poll.
func BenchmarkAPI(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(db.name, func(b *testing.B) {
			// Measures the service, not its rate limit.
			env := e2e.Start(b, e2e.Options{Store: db.open, BuildDuration: 200 * time.Millisecond, NoRateLimit: true})
			cached := request("6.8.0-1053-gcp")
			id, err := startBuild(env, cached)
			if err != nil {
				b.Fatal(err)
			}
			if err := awaitDone(env, id, time.Minute); err != nil {
				b.Fatal(err)
			}
			env.Sim.PauseWebhooks(true) // the running build below stays running
			running := request("6.8.0-1054-gcp")
			runningID, err := startBuild(env, running)
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

			for name, call := range map[string]func() (*http.Response, error){
				"cached": func() (*http.Response, error) {
					return client.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(cached))
				},
				"running": func() (*http.Response, error) {
					return client.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(running))
				},
				"status": func() (*http.Response, error) { return client.Get(env.ServiceURL + "/status/" + runningID) },
			} {
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							resp, err := call()
							if err != nil {
								b.Error(err)
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode >= 300 {
								b.Errorf("status %d", resp.StatusCode)
								return
							}
						}
					})
				})
			}
			if n := env.Sim.Stats().Dispatches; n != 2 {
				b.Fatalf("%d dispatches, want 2", n)
			}
		})
	}
}

func postQuiet(env *e2e.Env, body string) (int, string) {
	resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// startBuild asks for a build and returns its id; an answer that names
// none (an invalid request, a package that exists) is an error.
func startBuild(env *e2e.Env, body string) (string, error) {
	code, out := postQuiet(env, body)
	var a buildapi.Accepted
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.BuildID == "" {
		return "", fmt.Errorf("POST /build answered %d %s: no build id", code, out)
	}
	return a.BuildID, nil
}

// awaitDone waits for a build to be done. A build that ends in error, or
// is not done within timeout, is an error: a benchmark must not wait
// forever on a build that failed.
func awaitDone(env *e2e.Env, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s, err := fetchStatus(env, id)
		switch {
		case err != nil:
			return err
		case s.Status == "done":
			return nil
		case s.Status == "error":
			return fmt.Errorf("build %s failed: %s", id, s.Reason)
		case time.Now().After(deadline):
			return fmt.Errorf("build %s is still %s after %s", id, s.Status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The benchmark's setup fails, rather than hanging or panicking, on a
// build that fails and on a request the service refuses.
func TestBenchmarkSetupFails(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{FailKernels: regexp.MustCompile(`^6\.8\.0-9`), BuildDuration: 50 * time.Millisecond})
	id, err := startBuild(env, request("6.8.0-9001-gcp"))
	require.NoError(t, err)
	err = awaitDone(env, id, time.Minute)
	require.ErrorContains(t, err, "failed: build_failed")

	_, err = startBuild(env, strings.Replace(request("6.8.0-1053-gcp"), "ubuntu", "rocky", 1))
	require.ErrorContains(t, err, "answered 400")
	require.ErrorContains(t, err, "no build id")
}
