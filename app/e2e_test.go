package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// status is any answer of the API: a build, or an error.
type status struct {
	buildapi.Build
	Error string `json:"error"`
	Field string `json:"field"`
}

func post(t *testing.T, env *e2e.Env, body string) (int, status) {
	t.Helper()
	resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var s status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return resp.StatusCode, s
}

func fetchStatus(env *e2e.Env, id string) (status, error) {
	resp, err := http.Get(env.ServiceURL + "/status/" + id)
	if err != nil {
		return status{}, err
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return status{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /status: %d %s", resp.StatusCode, s.Error)
	}
	return s, nil
}

func getStatus(t *testing.T, env *e2e.Env, id string) status {
	t.Helper()
	s, err := fetchStatus(env, id)
	require.NoError(t, err)
	return s
}

// waitFor polls the build's status until cond holds, and returns every
// status it saw on the way.
func waitFor(t *testing.T, env *e2e.Env, id string, cond func(status) bool) []string {
	t.Helper()
	var seen []string
	var lastErr error
	require.Eventually(t, func() bool {
		s, err := fetchStatus(env, id)
		if err != nil {
			lastErr = err
			return false
		}
		if len(seen) == 0 || seen[len(seen)-1] != s.Status {
			seen = append(seen, s.Status)
		}
		return cond(s)
	}, 30*time.Second, 20*time.Millisecond, "statuses seen: %v, last error: %v", seen, lastErr)
	return seen
}

// scrape reads the service's Prometheus metrics.
func scrape(t *testing.T, env *e2e.Env) string {
	t.Helper()
	resp, err := http.Get(env.ServiceURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func request(kernel string) string {
	b, err := json.Marshal(map[string]string{
		"kernel_version": kernel, "architecture": "x86_64", "distribution": "ubuntu",
		"distro_version": "24.04", "driver_version": "v0.1.2",
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func terminal(s status) bool { return s.Status == "done" || s.Status == "error" }

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		t.Run("build, download, then served at once", func(t *testing.T) {
			t.Parallel()
			// The poller is slowed down so that the webhooks alone are seen
			// to carry the build; other tests cover the poller.
			env := e2e.Start(t, e2e.Options{Store: open, BuildDuration: time.Second,
				Configure: func(c *app.Config) { c.Builds.PollInterval = time.Minute }})

			code, accepted := post(t, env, request("6.8.0-1053-gcp"))
			require.Equal(t, http.StatusAccepted, code, accepted.Error)
			require.Equal(t, "queued", accepted.Status)
			require.Equal(t, "workflow dispatched", accepted.Message)
			require.NotEmpty(t, accepted.BuildID)

			seen := waitFor(t, env, accepted.BuildID, terminal)
			require.Contains(t, seen, "in_progress")
			final := getStatus(t, env, accepted.BuildID)
			require.Equal(t, "done", final.Status, final.Reason)
			require.Equal(t, "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb", final.Package)
			require.Equal(t, env.PackageURL("v0.1.2", final.Package), final.DownloadURL)
			require.NotEmpty(t, final.RunURL)

			resp, err := http.Get(final.DownloadURL)
			require.NoError(t, err)
			pkg, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.True(t, bytes.HasPrefix(pkg, []byte("!<arch>\n")), "a .deb is an ar archive")
			sum := sha256.Sum256(pkg)
			require.Equal(t, hex.EncodeToString(sum[:]), final.SHA256)

			// Requests to GitHub, less the redelivery job's, which may run at
			// any time, once the kernel is in kernels.json and the loop idle.
			waitListing(t, env, accepted.BuildID, store.ListingMerged)
			calls := func() int64 {
				st := env.Sim.Stats()
				return st.TotalRequests - st.ByRoute["GET /api/v3/app/hook/deliveries"]
			}
			// The merge's push webhook may still be on its way, and its
			// handler asks GitHub for the branches to re-apply: wait until
			// GitHub has heard nothing for a second.
			before := calls()
			for i, quiet := 0, 0; quiet < 10 && i < 200; i++ {
				time.Sleep(100 * time.Millisecond)
				if now := calls(); now != before {
					before, quiet = now, 0
				} else {
					quiet++
				}
			}
			code, again := post(t, env, request("6.8.0-1053-gcp"))
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "done", again.Status)
			require.Equal(t, final.DownloadURL, again.DownloadURL)
			require.Equal(t, final.SHA256, again.SHA256)
			require.Equal(t, before, calls(), "a cached package costs no GitHub call; requests by route: %v", env.Sim.Stats().ByRoute)
			require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
			require.Equal(t, "package confirmed in the release", final.Progress)

			metrics := scrape(t, env)
			for _, line := range []string{
				`driverbuild_build_requests_total{outcome="dispatched"} 1`,
				`driverbuild_build_requests_total{outcome="cached"} 1`,
				`driverbuild_builds_finished_total{reason="",status="done"} 1`,
				`driverbuild_build_duration_seconds_count{status="done"} 1`,
				`driverbuild_webhook_deliveries_total{code="200",event="workflow_run"}`,
				`driverbuild_http_request_duration_seconds_count{code="202",method="post",route="/build"} 1`,
				`driverbuild_github_rate_limit{bucket="installation"} 5000`,
				// Each optional work has its series before it is ever put off.
				`driverbuild_github_deferred_total{work="kernels_json"} 0`,
				`driverbuild_github_deferred_total{work="index_refresh"} 0`,
				`driverbuild_github_deferred_total{work="redelivery"} 0`,
			} {
				require.Contains(t, metrics, line)
			}
			require.Regexp(t, `driverbuild_github_rate_remaining\{bucket="installation"\} 4\d\d\d\n`, metrics, "the budget GitHub last reported")

			events, err := env.Store.BuildEvents(t.Context(), accepted.BuildID)
			require.NoError(t, err)
			var trail []string
			for _, e := range events {
				trail = append(trail, fmt.Sprintf("%s>%s by %s", e.From, e.To, e.Source))
			}
			require.Equal(t, ">queued by api", trail[0])
			require.Equal(t, "in_progress>done by webhook", trail[len(trail)-1])

			var reqs []store.Request
			require.Eventually(t, func() bool { // written in batches, within handlers.AuditFlushEvery
				var err error
				reqs, err = env.Store.RequestsRecent(t.Context(), 10)
				return err == nil && len(reqs) == 2
			}, 5*time.Second, 10*time.Millisecond)
			outcomes := []string{reqs[0].Outcome, reqs[1].Outcome}
			require.ElementsMatch(t, []string{"dispatched", "cached"}, outcomes)
		})

		t.Run("200 concurrent requests make one build", func(t *testing.T) {
			t.Parallel()
			env := e2e.Start(t, e2e.Options{Store: open, BuildDuration: 2 * time.Second})
			const n = 200
			ids := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(request("6.14.0-1017-azure")))
					if err != nil {
						ids <- "error: " + err.Error()
						return
					}
					defer resp.Body.Close()
					var s status
					_ = json.NewDecoder(resp.Body).Decode(&s)
					if resp.StatusCode == http.StatusOK && s.Status == "done" {
						// On a loaded machine the last requests may come
						// after the build ended: they get its package.
						ids <- "done"
						return
					}
					ids <- fmt.Sprint(resp.StatusCode, " ", s.BuildID)
				}()
			}
			wg.Wait()
			close(ids)
			distinct := map[string]int{}
			for id := range ids {
				if id != "done" {
					distinct[id]++
				}
			}
			require.Len(t, distinct, 1, "answers: %v", distinct)
			for answer := range distinct {
				require.True(t, strings.HasPrefix(answer, "202 "), answer)
			}
			for answer := range distinct {
				waitFor(t, env, strings.TrimPrefix(answer, "202 "), terminal)
			}
			require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
		})

		t.Run("a restart in the middle of a build loses nothing", func(t *testing.T) {
			t.Parallel()
			env := e2e.Start(t, e2e.Options{Store: open, BuildDuration: 2 * time.Second})
			code, accepted := post(t, env, request("6.8.0-1044-aws"))
			require.Equal(t, http.StatusAccepted, code)
			waitFor(t, env, accepted.BuildID, func(s status) bool { return s.Status == "in_progress" })

			env.Kill(t)
			// The run completes while the service is down: its webhooks fail.
			completion := func() (ghsim.DeliveryInfo, bool) {
				for _, d := range env.Sim.Deliveries() {
					if d.Event == "workflow_run" && d.Action == "completed" && d.Attempted {
						return d, true
					}
				}
				return ghsim.DeliveryInfo{}, false
			}
			require.Eventually(t, func() bool { _, ok := completion(); return ok }, 30*time.Second, 20*time.Millisecond)
			lost, _ := completion()
			require.Zero(t, lost.StatusCode, "nobody listened for the completion")

			env.Restart(t)
			waitFor(t, env, accepted.BuildID, terminal)
			final := getStatus(t, env, accepted.BuildID)
			require.Equal(t, "done", final.Status, final.Reason)
			require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
			events, err := env.Store.BuildEvents(t.Context(), accepted.BuildID)
			require.NoError(t, err)
			// The poller, or the lost webhook redelivered at start, finished it.
			require.Contains(t, []lifecycle.Source{lifecycle.SourcePoller, lifecycle.SourceWebhook}, events[len(events)-1].Source)
		})
	})
}

func TestFailedBuildCoolsDown(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{FailKernels: regexp.MustCompile(`^6\.8\.0-9`)})
	code, accepted := post(t, env, request("6.8.0-999-generic"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "error", final.Status)
	require.Equal(t, "build_failed", final.Reason)

	code, again := post(t, env, request("6.8.0-999-generic"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, accepted.BuildID, again.BuildID, "the failed build comes back during the cool-down")
	require.Equal(t, "error", again.Status)
	require.Contains(t, again.Message, "not retried before")
	require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
}

func TestDispatchWithoutRunDetails(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{RejectRunDetails: true})
	code, accepted := post(t, env, request("6.17.0-1020-azure"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "done", final.Status, final.Reason)
	require.NotEmpty(t, final.RunURL, "the run was found by its run-name")
}

func TestDistroVersionMismatch(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	body := `{"kernel_version":"6.8.0-40-generic","architecture":"x86_64","distribution":"ubuntu","distro_version":"22.04","driver_version":"v0.1.2"}`
	code, accepted := post(t, env, body)
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)

	code, s := post(t, env, strings.Replace(body, "22.04", "24.04", 1))
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "distro_version", s.Field)
	require.Contains(t, s.Error, "built for ubuntu 22.04, not 24.04")
}

func TestInvalidRequestsDispatchNothing(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	// The cases run in parallel inside a group, so that what follows the
	// group sees them all done.
	t.Run("cases", func(t *testing.T) {
		for name, tc := range map[string]struct {
			contentType, body string
			code              int
			field, says       string
		}{
			"shell in kernel":     {"application/json", request("6.8.0-$(reboot)"), 400, "kernel_version", "only letters"},
			"newline in kernel":   {"application/json", request("6.8.0\n-generic"), 400, "kernel_version", "only letters"},
			"NUL in kernel":       {"application/json", request("6.8.0\x00"), 400, "kernel_version", "only letters"},
			"10 kB kernel":        {"application/json", request("6.8." + strings.Repeat("1", 10240)), 400, "kernel_version", "at most 128"},
			"non-ASCII kernel":    {"application/json", request("6.8.0-gé"), 400, "kernel_version", "only letters"},
			"unknown release":     {"application/json", strings.Replace(request("6.8.0-1-gcp"), "v0.1.2", "v9.9.9", 1), 400, "driver_version", "no release v9.9.9"},
			"unknown field":       {"application/json", `{"kernel_version":"6.8.0-1-gcp","evil":"x"}`, 400, "evil", "unknown field"},
			"number for string":   {"application/json", `{"kernel_version":6.8}`, 400, "kernel_version", "must be a JSON string"},
			"malformed JSON":      {"application/json", `{"kernel_version":`, 400, "", "JSON"},
			"two objects":         {"application/json", request("6.8.0-1-gcp") + "{}", 400, "", "trailing data"},
			"empty body":          {"application/json", ``, 400, "", "empty body"},
			"wrong content type":  {"text/plain", request("6.8.0-1-gcp"), 415, "", "Content-Type must be application/json"},
			"body over 64 KiB":    {"application/json", `{"kernel_version":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "", "larger than"},
			"architecture sparc":  {"application/json", strings.Replace(request("6.8.0-1-gcp"), "x86_64", "sparc", 1), 400, "architecture", "x86_64 and aarch64"},
			"distribution arch":   {"application/json", strings.Replace(request("6.8.0-1-gcp"), `"ubuntu"`, `"arch"`, 1), 400, "distribution", "accepted are"},
			"distro version 9.10": {"application/json", strings.Replace(request("6.8.0-1-gcp"), "24.04", "9.10", 1), 400, "distro_version", "22.04, 24.04"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				resp, err := http.Post(env.ServiceURL+"/build", tc.contentType, strings.NewReader(tc.body))
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, tc.code, resp.StatusCode)
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				var s status
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
				require.Equal(t, tc.field, s.Field)
				require.Contains(t, s.Error, tc.says)
			})
		}
	})
	var reqs []store.Request
	require.Eventually(t, func() bool { // written in batches, within handlers.AuditFlushEvery
		var err error
		reqs, err = env.Store.RequestsRecent(t.Context(), 100)
		return err == nil && len(reqs) == 16
	}, 5*time.Second, 10*time.Millisecond, "every request is in the audit log")
	fields := map[string]int{}
	for _, r := range reqs {
		require.Equal(t, "invalid", r.Outcome, "%+v", r)
		require.Empty(t, r.BuildID)
		require.NotEmpty(t, r.Error)
		fields[r.Field]++
	}
	require.Equal(t, map[string]int{"kernel_version": 6, "driver_version": 1, "evil": 1, "architecture": 1,
		"distribution": 1, "distro_version": 1, "": 5}, fields, "the audit log names the field each got wrong")
	require.Zero(t, env.Sim.Stats().Dispatches)
}

func TestStatusAndHealth(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	for path, code := range map[string]int{
		"/healthz": 200, "/readyz": 200,
		"/status/0190c3f4-0000-7000-8000-000000000000": 404,
		"/status/..%2F..%2Fetc%2Fpasswd":               404,
		"/status/not-a-build":                          404,
	} {
		resp, err := http.Get(env.ServiceURL + path)
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), path)
		resp.Body.Close()
		require.Equal(t, code, resp.StatusCode, path)
	}
}

// TestAuditTrailServed follows a build through the audit API the service
// serves, behind an admin token (a loader's is refused: TestAccess).
func TestAuditTrailServed(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
		c.API.Tokens, c.API.AllowAnonymous = []string{"loader-token"}, false
		c.API.Clients = []handlers.Client{{Name: "ops", Role: handlers.RoleAdmin, SHA256: handlers.HashToken("admin-token")}}
	}})
	get := func(path string, out any) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, env.ServiceURL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
		return resp.StatusCode
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.ServiceURL+"/build", strings.NewReader(request("6.8.0-1060-gcp")))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer loader-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var accepted status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&accepted))
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, accepted.Error)

	require.Eventually(t, func() bool {
		var page buildapi.Builds
		return get("/api/builds?kernel=6.8.0-1060-gcp&status=done", &page) == http.StatusOK &&
			len(page.Builds) == 1 && page.Builds[0].BuildID == accepted.BuildID
	}, 30*time.Second, 50*time.Millisecond)
	var tl buildapi.Events
	require.Equal(t, http.StatusOK, get("/api/builds/"+accepted.BuildID+"/events", &tl))
	require.Equal(t, "queued", tl.Events[0].To)
	require.Equal(t, "done", tl.Events[len(tl.Events)-1].To)
	require.NotEmpty(t, tl.Events[len(tl.Events)-1].RunURL)
	var reqs buildapi.Requests
	require.Equal(t, http.StatusOK, get("/api/requests?outcome=dispatched", &reqs))
	require.Len(t, reqs.Requests, 1)
	require.Equal(t, accepted.BuildID, reqs.Requests[0].BuildID)
	var deliveries buildapi.Deliveries
	require.Equal(t, http.StatusOK, get("/api/deliveries?event=workflow_run", &deliveries))
	require.NotEmpty(t, deliveries.Deliveries, "the run's webhooks were applied")

	anonymous, err := http.Get(env.ServiceURL + "/api/builds")
	require.NoError(t, err)
	anonymous.Body.Close()
	require.Equal(t, http.StatusUnauthorized, anonymous.StatusCode)
}
