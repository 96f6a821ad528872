package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
			env := e2e.Start(b, e2e.Options{Store: db.open, BuildDuration: 200 * time.Millisecond})
			cached := request("6.8.0-1053-gcp")
			id := mustBuild(b, env, cached)
			for !isDone(env, id) {
				time.Sleep(20 * time.Millisecond)
			}
			env.Sim.PauseWebhooks(true) // the running build below stays running
			running := request("6.8.0-1054-gcp")
			runningID := mustBuild(b, env, running)
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

func mustBuild(b *testing.B, env *e2e.Env, body string) string {
	resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var id string
	if _, err := fmt.Sscanf(string(out[strings.Index(string(out), `"build_id":"`)+len(`"build_id":"`):]), "%36s", &id); err != nil {
		b.Fatalf("no build id in %s", out)
	}
	return id
}

func isDone(env *e2e.Env, id string) bool {
	s, err := fetchStatus(env, id)
	return err == nil && s.Status == "done"
}
