package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/lifecycle"
)

const dispatchRoute = "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"

func sources(t *testing.T, env *e2e.Env, id string) []lifecycle.Source {
	t.Helper()
	events, err := env.Store.BuildEvents(t.Context(), id)
	require.NoError(t, err)
	var out []lifecycle.Source
	for _, e := range events {
		out = append(out, e.Source)
	}
	return out
}

func TestDispatchIsRetried(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]ghsim.Fault{
		"server error":         {Route: dispatchRoute, Status: http.StatusBadGateway},
		"secondary rate limit": {Route: dispatchRoute, Status: http.StatusForbidden, RetryAfter: 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := e2e.Start(t, e2e.Options{})
			require.NoError(t, env.Sim.InjectFault(fault))
			code, accepted := post(t, env, request("6.8.0-1012-aws"))
			require.Equal(t, http.StatusAccepted, code)
			waitFor(t, env, accepted.BuildID, terminal)
			require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
			stats := env.Sim.Stats()
			require.EqualValues(t, 1, stats.FaultsInjected)
			require.EqualValues(t, 2, stats.ByRoute[dispatchRoute], "one refused call, one retry")
			require.EqualValues(t, 1, stats.Dispatches)
		})
	}
}

// A dispatch that GitHub carried out but whose answer was lost is not
// repeated: the retry finds the run by its run-name first.
func TestDispatchAnswerLost(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Faults: []ghsim.Fault{{Route: dispatchRoute, Status: http.StatusGatewayTimeout, AfterHandling: true}}})
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
	stats := env.Sim.Stats()
	require.EqualValues(t, 1, stats.FaultsInjected)
	require.EqualValues(t, 1, stats.Dispatches, "one run, although the first answer was a 504")
	require.EqualValues(t, 1, stats.ByRoute[dispatchRoute], "the retry looked the run up instead of dispatching")
}

func TestDispatchRefusedForGood(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) { c.Repository.Workflow = "no-such-workflow.yml" }})
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "error", final.Status)
	require.Equal(t, "dispatch_failed", final.Reason)
	require.EqualValues(t, 1, env.Sim.Stats().ByRoute[dispatchRoute], "a 404 is not retried")
}

// A 422 on dispatch ends the build at once, with GitHub's message for the
// person who reads its status.
func TestDispatch422ShowsGitHubsMessage(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) { c.Repository.Ref = "no-such-branch" }})
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "error", final.Status)
	require.Equal(t, "dispatch_failed", final.Reason)
	require.Equal(t, "dispatch failed: No ref found for: no-such-branch", final.Progress)
	require.EqualValues(t, 1, env.Sim.Stats().ByRoute[dispatchRoute], "a 422 is not retried")
}

// With every webhook lost, the poller alone carries the build to the end.
func TestPollerWithoutWebhooks(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	env.Sim.PauseWebhooks(true)
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
	require.Equal(t, []lifecycle.Source{lifecycle.SourceAPI, lifecycle.SourceAPI, lifecycle.SourcePoller}, sources(t, env, accepted.BuildID))
	require.Positive(t, env.Sim.Stats().WebhooksFailed)
}

func TestSweeperTimesOut(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{
		BuildDuration: time.Minute,
		Configure:     func(c *app.Config) { c.Builds.Timeout = time.Second },
	})
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "error", final.Status)
	require.Equal(t, "timed_out", final.Reason)
	src := sources(t, env, accepted.BuildID)
	require.Equal(t, lifecycle.SourceSweeper, src[len(src)-1])
	require.Eventually(t, func() bool { return env.Sim.Stats().Conclusions["cancelled"] == 1 }, 10*time.Second, 20*time.Millisecond,
		"the timed-out run is cancelled so it frees its runner")
}

// Optional calls stop short of the budget's end: with a budget that the
// release index refresh alone would spend in seconds, it stops at the
// reserve, and a build still dispatches and ends.
func TestOptionalCallsSpareTheBudget(t *testing.T) {
	t.Parallel()
	const limit = 60
	env := e2e.Start(t, e2e.Options{RateLimit: limit, Configure: func(c *app.Config) {
		c.Builds.IndexRefresh = 100 * time.Millisecond
		c.Builds.RedeliverInterval = 100 * time.Millisecond
	}})
	const releases = "GET /api/v3/repos/{owner}/{repo}/releases"
	calls := func() int64 { return env.Sim.Stats().ByRoute[releases] }
	require.Eventually(t, func() bool { return calls() > limit/2 }, 20*time.Second, 10*time.Millisecond, "the refresh runs")
	require.Eventually(t, func() bool {
		before := calls()
		time.Sleep(500 * time.Millisecond)
		return calls() == before
	}, 20*time.Second, 10*time.Millisecond, "the refresh stops")
	// The reserve is the last fifth, less the refreshes that were in flight
	// together when it was reached; the build's calls come out of it.
	require.LessOrEqual(t, calls(), int64(limit-limit/12), "stopped at the reserve")

	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
	require.Regexp(t, `driverbuild_github_rate_remaining\{bucket="installation"\} [1-9]`, scrape(t, env), "some budget left")
}
