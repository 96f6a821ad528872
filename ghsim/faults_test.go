package ghsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

const tagRoute = "GET /api/v3/repos/{owner}/{repo}/releases/tags/{tag}"

func TestFaultServerError(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	ctx := context.Background()
	require.NoError(t, sim.InjectFault(ghsim.Fault{Route: tagRoute, Status: http.StatusInternalServerError, Count: 2}))

	// Other routes are not affected.
	_, _, err := gh.Repositories.ListReleases(ctx, "riptides", "driver", nil)
	require.NoError(t, err)
	for range 2 {
		_, resp, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
		require.Error(t, err)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	}
	_, _, err = gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	require.EqualValues(t, 2, sim.Stats().FaultsInjected)
}

func TestFaultSecondaryRateLimit(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	require.NoError(t, sim.InjectFault(ghsim.Fault{Route: tagRoute, Status: http.StatusForbidden, RetryAfter: 7}))

	_, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	var abuse *github.AbuseRateLimitError
	require.ErrorAs(t, err, &abuse)
	require.NotNil(t, abuse.RetryAfter)
	require.Equal(t, 7*time.Second, *abuse.RetryAfter)
}

func TestFaultAnyRoute(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	require.NoError(t, sim.InjectFault(ghsim.Fault{Status: http.StatusServiceUnavailable}))
	resp, _ := call(t, http.MethodGet, apiURL(sim)+"/app", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "before authentication")
	resp, _ = call(t, http.MethodGet, apiURL(sim)+"/app", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestFaultValidation(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	tests := map[string]ghsim.Fault{
		"unknown route":   {Route: "GET /api/v3/nothing", Status: 500},
		"not a failure":   {Status: 200},
		"client error":    {Status: 404},
		"negative count":  {Status: 500, Count: -1},
		"negative retry":  {Status: 403, RetryAfter: -1},
		"control route":   {Route: "GET /_sim/stats", Status: 500},
		"route no method": {Route: "/api/v3/app", Status: 500},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Error(t, sim.InjectFault(f))
		})
	}
}

func TestControlEndpoint(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}})
	token := installationToken(t, sim)
	gh := installationClient(t, sim)

	resp, body := call(t, http.MethodPost, sim.URL()+"/_sim/faults", "", map[string]any{
		"faults":          []map[string]any{{"route": "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", "status": 502}},
		"webhooks_paused": true,
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.JSONEq(t, `{"faults":[{"route":"POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches","status":502,"count":1}],"webhooks_paused":true}`, string(body))

	resp, _ = call(t, http.MethodPost, apiURL(sim)+"/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches", "token "+token,
		map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")})
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	id := dispatch(t, sim, token, "6.8.0-1")
	waitCompleted(t, gh, id)
	require.Eventually(t, func() bool { return sim.Stats().WebhooksFailed == 6 }, waitFor, 10*time.Millisecond)

	resp, body = call(t, http.MethodPost, sim.URL()+"/_sim/faults", "", map[string]any{"faults": []map[string]any{{"status": 200}}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(body))
	resp, _ = call(t, http.MethodPost, sim.URL()+"/_sim/faults", "", `{"fault":[]}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "unknown field")

	resp, _ = call(t, http.MethodDelete, sim.URL()+"/_sim/faults", "", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, body = call(t, http.MethodGet, sim.URL()+"/_sim/faults", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"faults":[],"webhooks_paused":false}`, string(body))
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RateLimit: 3})
	token := installationToken(t, sim)
	url := apiURL(sim) + "/repos/riptides/driver/releases/tags/v0.1.2"

	for i := 1; i <= 3; i++ {
		resp, _ := call(t, http.MethodGet, url, "token "+token, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "3", resp.Header.Get("X-RateLimit-Limit"))
		require.Equal(t, "core", resp.Header.Get("X-RateLimit-Resource"))
		require.Equal(t, strconv.Itoa(i), resp.Header.Get("X-RateLimit-Used"))
		require.Equal(t, strconv.Itoa(3-i), resp.Header.Get("X-RateLimit-Remaining"))
		require.NotEmpty(t, resp.Header.Get("X-RateLimit-Reset"))
	}
	// go-github recognises GitHub's primary rate-limit answer.
	_, _, err := installationClient(t, sim).Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	var limited *github.RateLimitError
	require.ErrorAs(t, err, &limited)
	require.Equal(t, 0, limited.Rate.Remaining)

	resp, body := call(t, http.MethodGet, apiURL(sim)+"/rate_limit", "token "+token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "/rate_limit answers with the budget spent")
	var limits struct {
		Rate struct{ Limit, Used, Remaining int }
	}
	require.NoError(t, json.Unmarshal(body, &limits))
	require.Equal(t, 3, limits.Rate.Limit)
	require.Equal(t, 3, limits.Rate.Used)
	require.Zero(t, limits.Rate.Remaining)
}

func TestStats(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	token := installationToken(t, sim)
	id := dispatch(t, sim, token, "6.8.0-1")
	waitCompleted(t, gh, id)
	rc.waitHook(t, runHook("workflow_run", "completed", id))
	require.Eventually(t, func() bool { return sim.Stats().WebhooksSent == 6 }, waitFor, 10*time.Millisecond)
	call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/nope.deb", "", nil)

	resp, body := call(t, http.MethodGet, sim.URL()+"/_sim/stats", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st ghsim.Stats
	require.NoError(t, json.Unmarshal(body, &st))
	require.EqualValues(t, 1, st.Dispatches)
	require.EqualValues(t, 1, st.ByRoute["POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"])
	require.EqualValues(t, 1, st.ByRoute["GET /{owner}/{repo}/releases/download/{tag}/{name}"])
	require.Positive(t, st.ByRoute["POST /api/v3/app/installations/{installation_id}/access_tokens"])
	require.Positive(t, st.ByRoute["GET /api/v3/repos/{owner}/{repo}/actions/runs/{run_id}"])
	var sum int64
	for _, n := range st.ByRoute {
		sum += n
	}
	require.Equal(t, st.TotalRequests, sum)
	require.EqualValues(t, 6, st.WebhooksSent)
	require.Zero(t, st.WebhooksFailed)
	require.Equal(t, map[string]int{"queued": 0, "in_progress": 0, "completed": 1}, st.Runs)
	require.Equal(t, map[string]int{"success": 1}, st.Conclusions)

	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, key := range []string{"total_requests", "dispatches", "webhooks_sent", "webhooks_failed", "by_route", "runs"} {
		require.Contains(t, raw, key)
	}
}

func TestUnknownAPIPath(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	resp, body := call(t, http.MethodGet, apiURL(sim)+"/repos/riptides/driver/issues", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.JSONEq(t, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`, string(body))
	resp, _ = call(t, http.MethodPut, apiURL(sim)+"/app", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestCloseStopsRuns(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim, err := ghsim.New(ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}, BuildDuration: time.Hour})
	require.NoError(t, err)
	ts := newTestServer(t, sim)
	token := installationToken(t, sim)
	id := dispatch(t, sim, token, "6.8.0-1")
	rc.waitHook(t, runHook("workflow_job", "queued", id))

	// Close returns once the run's and the deliveries' goroutines are gone,
	// although the run had an hour to go.
	require.NoError(t, sim.Close())
	require.NoError(t, sim.Close(), "Close is idempotent")
	require.Equal(t, map[string]int{"queued": 1, "in_progress": 0, "completed": 0}, sim.Stats().Runs)

	resp, _ := call(t, http.MethodPost, ts.URL+"/api/v3/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches",
		"token "+token, map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-2")})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no runs start after Close")
}
