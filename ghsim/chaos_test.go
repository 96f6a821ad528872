package ghsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// createReleases creates releases v1.0.0 ... v1.0.{n-1} in that order.
func createReleases(t *testing.T, gh *github.Client, n int) []string {
	t.Helper()
	var tags []string
	for i := range n {
		tag := "v1.0." + strconv.Itoa(i)
		_, _, err := gh.Repositories.CreateRelease(context.Background(), "riptides", "driver", &github.RepositoryRelease{TagName: github.String(tag)})
		require.NoError(t, err)
		tags = append(tags, tag)
	}
	return tags
}

// releaseTags are the tags of the release webhooks rc got with action, in
// the order they arrived.
func releaseTags(t *testing.T, rc *receiver, action string) []string {
	t.Helper()
	var tags []string
	for _, h := range rc.all() {
		if h.Event != "release" || h.Action != action {
			continue
		}
		var body struct {
			Release struct {
				TagName string `json:"tag_name"`
			} `json:"release"`
		}
		require.NoError(t, json.Unmarshal(h.Body, &body))
		tags = append(tags, body.Release.TagName)
	}
	return tags
}

func TestChaosDropWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Chaos: ghsim.Chaos{DropWebhooks: 1}})
	createReleases(t, installationClient(t, sim), 3)
	// 3 releases send created, published and released each.
	require.Eventually(t, func() bool { return sim.Stats().WebhooksFailed == 9 }, waitFor, 10*time.Millisecond)
	require.Empty(t, rc.all(), "a dropped delivery reaches nobody")

	deliveries, _, err := appClient(t, sim).Apps.ListHookDeliveries(context.Background(), &github.ListCursorOptions{PerPage: 100})
	require.NoError(t, err)
	require.Len(t, deliveries, 9, "each is in the deliveries API, for redelivery to find")
	for _, d := range deliveries {
		require.Zero(t, d.GetStatusCode())
		require.Equal(t, "failed to connect to host", d.GetStatus())
	}
}

func TestChaosDropSomeWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Chaos: ghsim.Chaos{DropWebhooks: 0.5, Seed: 1}})
	createReleases(t, installationClient(t, sim), 20)
	require.Eventually(t, func() bool { return sim.Stats().WebhooksSent == 60 }, waitFor, 10*time.Millisecond)
	failed := sim.Stats().WebhooksFailed
	require.Len(t, rc.all(), 60-int(failed))
	require.Greater(t, failed, int64(0))
	require.Less(t, failed, int64(60))
}

func TestChaosDuplicateWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Chaos: ghsim.Chaos{DuplicateWebhooks: 1}})
	createReleases(t, installationClient(t, sim), 2)
	require.Eventually(t, func() bool { return len(rc.all()) == 12 }, waitFor, 10*time.Millisecond)
	guids := map[string]int{}
	for _, h := range rc.all() {
		guids[h.Header.Get("X-GitHub-Delivery")]++
	}
	require.Len(t, guids, 6)
	for guid, n := range guids {
		require.Equal(t, 2, n, "delivery %s arrives twice", guid)
	}
	require.Len(t, sim.Deliveries(), 12, "both attempts are recorded")
}

func TestChaosReorderWebhooks(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Chaos: ghsim.Chaos{ReorderWebhooks: true, Seed: 3}})
	tags := createReleases(t, installationClient(t, sim), 12)
	require.Eventually(t, func() bool { return len(rc.all()) == 36 }, waitFor, 10*time.Millisecond)
	got := releaseTags(t, rc, "created")
	require.ElementsMatch(t, tags, got, "nothing is lost")
	require.NotEqual(t, tags, got, "events created together arrive out of order")
}

func TestWebhooksInOrderWithoutReorder(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL()})
	tags := createReleases(t, installationClient(t, sim), 12)
	require.Eventually(t, func() bool { return len(rc.all()) == 36 }, waitFor, 10*time.Millisecond)
	require.Equal(t, tags, releaseTags(t, rc, "created"))
}

func TestChaosDelayWebhooks(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Chaos: ghsim.Chaos{DelayWebhooks: delay}})
	created := time.Now()
	createReleases(t, installationClient(t, sim), 1)
	rc.waitHook(t, func(h hook) bool { return h.Event == "release" && h.Action == "released" })
	// A lower bound: a delayed webhook cannot arrive sooner, however slow the machine.
	require.GreaterOrEqual(t, time.Since(created), delay)
	require.Len(t, rc.all(), 3)
}

func TestChaosAPIErrors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, Chaos: ghsim.Chaos{APIErrorRate: 1}})
	statuses := map[int]bool{}
	for range 30 {
		resp, body := call(t, http.MethodGet, apiURL(sim)+"/repos/riptides/driver/releases/tags/v0.1.2", "", nil)
		require.Contains(t, []int{500, 502, 503}, resp.StatusCode, string(body))
		var e struct{ Message string }
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, http.StatusText(resp.StatusCode), e.Message)
		statuses[resp.StatusCode] = true
	}
	require.Greater(t, len(statuses), 1, "more than one kind of server error")
	resp, _ := call(t, http.MethodGet, sim.URL()+"/_sim/stats", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "control endpoints do not fail")
	resp, _ = call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/none.deb", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "downloads are not API routes")
	require.EqualValues(t, 30, sim.Stats().FaultsInjected)
}

func TestChaosSecondaryRateLimit(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, Chaos: ghsim.Chaos{SecondaryLimitRate: 1, SecondaryRetryAfter: 3 * time.Second}})
	resp, body := call(t, http.MethodGet, apiURL(sim)+"/repos/riptides/driver/releases/tags/v0.1.2", "", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, "3", resp.Header.Get("Retry-After"))
	var e struct{ Message string }
	require.NoError(t, json.Unmarshal(body, &e))
	require.Contains(t, e.Message, "You have exceeded a secondary rate limit")

	// Refused before authentication, so even an anonymous client meets it.
	anonymous, err := github.NewClient(nil).WithEnterpriseURLs(sim.URL(), sim.URL())
	require.NoError(t, err)
	_, _, err = anonymous.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	var abuse *github.AbuseRateLimitError
	require.ErrorAs(t, err, &abuse, "go-github recognises it")
	require.Equal(t, 3*time.Second, abuse.GetRetryAfter())
}

// simRun is an entry of GET /_sim/runs.
type simRun struct {
	ID         int64   `json:"id"`
	BuildID    string  `json:"build_id"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
}

func simRuns(t *testing.T, sim *ghsim.Server) []simRun {
	t.Helper()
	resp, body := call(t, http.MethodGet, sim.URL()+"/_sim/runs", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var runs []simRun
	require.NoError(t, json.Unmarshal(body, &runs))
	return runs
}

func TestChaosDispatchAmbiguous(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, Chaos: ghsim.Chaos{DispatchAmbiguous: 1}})
	token := installationToken(t, sim)
	require.Empty(t, simRuns(t, sim))
	resp, body := call(t, http.MethodPost, apiURL(sim)+"/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches",
		"Bearer "+token, map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")})
	require.Equal(t, http.StatusBadGateway, resp.StatusCode, string(body))
	runs := simRuns(t, sim)
	require.Len(t, runs, 1, "the run was created all the same")
	require.Equal(t, "b-6.8.0-1", runs[0].BuildID)

	// Other routes answer as usual.
	_, _, err := installationClient(t, sim).Actions.GetWorkflowRunByID(context.Background(), "riptides", "driver", runs[0].ID)
	require.NoError(t, err)
}

func TestSimRuns(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, FailKernels: regexp.MustCompile(`^5\.`)})
	gh := installationClient(t, sim)
	token := installationToken(t, sim)
	ok := dispatch(t, sim, token, "6.8.0-1")
	failed := dispatch(t, sim, token, "5.15.0-1")
	waitCompleted(t, gh, ok)
	waitCompleted(t, gh, failed)
	runs := simRuns(t, sim)
	slices.SortFunc(runs, func(a, b simRun) int { return int(a.ID - b.ID) })
	success, failure := "success", "failure"
	require.Equal(t, []simRun{
		{ID: ok, BuildID: "b-6.8.0-1", Status: "completed", Conclusion: &success},
		{ID: failed, BuildID: "b-5.15.0-1", Status: "completed", Conclusion: &failure},
	}, runs)
}

func TestSimRunsShowsRunningRunsWithoutConclusion(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, BuildDuration: time.Hour})
	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	require.Equal(t, []simRun{{ID: id, BuildID: "b-6.8.0-1", Status: "queued"}}, simRuns(t, sim))
}
