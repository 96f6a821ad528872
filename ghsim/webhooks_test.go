package ghsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/internal/fixtures"
)

// requireShape checks that every key path of want exists in got with the
// same JSON type. A null in want admits anything; arrays compare their
// first elements when both have one.
func requireShape(t *testing.T, path string, want, got any) {
	t.Helper()
	if want == nil {
		return
	}
	require.Equal(t, fmt.Sprintf("%T", want), fmt.Sprintf("%T", got), "type of %s", path)
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, v := range w {
			gv, ok := g[k]
			require.True(t, ok, "%s.%s missing", path, k)
			requireShape(t, path+"."+k, v, gv)
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) > 0 {
			requireShape(t, path+"[0]", w[0], g[0])
		}
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

func TestWebhookPayloadsMatchGitHub(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{
		WebhookURL:    rc.URL(),
		WebhookSecret: "s3cret",
		Releases:      []string{"v0.1.2"},
		FailKernels:   regexp.MustCompile(`^5\.`),
	})
	token := installationToken(t, sim)
	ok := dispatch(t, sim, token, "6.8.0-1")
	failed := dispatch(t, sim, token, "5.4.0-1")
	_, _, err := installationClient(t, sim).Repositories.CreateRelease(context.Background(), "riptides", "driver",
		&github.RepositoryRelease{TagName: github.String("v0.2.0")})
	require.NoError(t, err)

	tests := map[string]func(hook) bool{
		"workflow_run.requested.json":           runHook("workflow_run", "requested", ok),
		"workflow_run.in_progress.DERIVED.json": runHook("workflow_run", "in_progress", ok),
		"workflow_run.completed.json":           runHook("workflow_run", "completed", ok),
		"workflow_job.queued.json":              runHook("workflow_job", "queued", ok),
		"workflow_job.in_progress.json":         runHook("workflow_job", "in_progress", ok),
		"workflow_job.completed.json":           runHook("workflow_job", "completed", ok),
		"workflow_job.completed.failure.json":   runHook("workflow_job", "completed", failed),
		"release.published.json":                func(h hook) bool { return h.Event == "release" && h.Action == "published" },
	}
	for fixture, match := range tests {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			h := rc.waitHook(t, match)
			requireShape(t, "", decode(t, fixtures.Read(t, "github-webhooks", fixture)), decode(t, h.Body))

			require.NoError(t, github.ValidateSignature(h.Header.Get("X-Hub-Signature-256"), h.Body, []byte("s3cret")))
			require.NoError(t, github.ValidateSignature(h.Header.Get("X-Hub-Signature"), h.Body, []byte("s3cret")))
			require.Error(t, github.ValidateSignature(h.Header.Get("X-Hub-Signature-256"), h.Body, []byte("other")))
			require.Equal(t, "application/json", h.Header.Get("Content-Type"))
			require.Equal(t, "GitHub-Hookshot/sim", h.Header.Get("User-Agent"))
			require.Equal(t, "integration", h.Header.Get("X-GitHub-Hook-Installation-Target-Type"))
			require.Equal(t, strconv.FormatInt(sim.AppID(), 10), h.Header.Get("X-GitHub-Hook-Installation-Target-ID"))
			require.NotEmpty(t, h.Header.Get("X-GitHub-Hook-ID"))
			require.Regexp(t, `^[0-9a-f-]{36}$`, h.Header.Get("X-GitHub-Delivery"))

			// go-github parses it as the event the header names.
			event, err := github.ParseWebHook(h.Event, h.Body)
			require.NoError(t, err)
			inst, ok := event.(interface{ GetInstallation() *github.Installation })
			require.True(t, ok)
			require.Equal(t, sim.InstallationID(), inst.GetInstallation().GetID())
		})
	}
}

func TestWebhooksInOrderPerRun(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}})
	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	rc.waitHook(t, runHook("workflow_run", "completed", id))

	var got []string
	for _, h := range rc.all() {
		if runHook(h.Event, h.Action, id)(h) {
			got = append(got, h.Event+" "+h.Action)
		}
	}
	require.Equal(t, []string{
		"workflow_run requested", "workflow_job queued",
		"workflow_run in_progress", "workflow_job in_progress",
		"workflow_job completed", "workflow_run completed",
	}, got)

	var body github.WorkflowRunEvent
	require.NoError(t, json.Unmarshal(rc.waitHook(t, runHook("workflow_run", "completed", id)).Body, &body))
	require.Equal(t, "success", body.GetWorkflowRun().GetConclusion())
	require.Equal(t, "build b-6.8.0-1: ubuntu 24.04 6.8.0-1 x86_64 v0.1.2", body.GetWorkflowRun().GetDisplayTitle())
	require.Equal(t, "driver-build", body.GetWorkflow().GetName())
}

func TestPausedWebhooksAndRedelivery(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	app := appClient(t, sim)
	ctx := context.Background()

	sim.PauseWebhooks(true)
	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	waitCompleted(t, gh, id)
	require.Eventually(t, func() bool { return sim.Stats().WebhooksFailed == 6 }, waitFor, 10*time.Millisecond)
	require.Empty(t, rc.all(), "nothing reaches a receiver while webhooks are paused")

	deliveries, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 100})
	require.NoError(t, err)
	require.Len(t, deliveries, 6)
	require.Equal(t, "workflow_run", deliveries[0].GetEvent(), "newest first")
	require.Equal(t, "completed", deliveries[0].GetAction())
	for _, d := range deliveries {
		require.Zero(t, d.GetStatusCode())
		require.False(t, d.GetRedelivery())
	}

	page, resp, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 4})
	require.NoError(t, err)
	require.Len(t, page, 4)
	require.NotEmpty(t, resp.Cursor)
	rest, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 4, Cursor: resp.Cursor})
	require.NoError(t, err)
	require.Len(t, rest, 2)
	require.Equal(t, deliveries[4].GetID(), rest[0].GetID())

	full, _, err := app.Apps.GetHookDelivery(ctx, deliveries[0].GetID())
	require.NoError(t, err)
	require.Equal(t, "workflow_run", full.GetRequest().GetHeaders()["X-GitHub-Event"])
	payload, err := full.ParseRequestPayload()
	require.NoError(t, err)
	require.Equal(t, id, payload.(*github.WorkflowRunEvent).GetWorkflowRun().GetID())

	// The service is back: redeliver what failed, oldest first.
	sim.PauseWebhooks(false)
	for i := len(deliveries) - 1; i >= 0; i-- {
		_, _, err := app.Apps.RedeliverHookDelivery(ctx, deliveries[i].GetID())
		var accepted *github.AcceptedError
		require.ErrorAs(t, err, &accepted)
	}
	final := rc.waitHook(t, runHook("workflow_run", "completed", id))
	require.Equal(t, deliveries[0].GetGUID(), final.Header.Get("X-GitHub-Delivery"), "a redelivery keeps the guid")
	require.Eventually(t, func() bool { return sim.Stats().WebhooksSent == 12 }, waitFor, 10*time.Millisecond)
	require.Len(t, rc.all(), 6)

	all, _, err := app.Apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 100})
	require.NoError(t, err)
	require.Len(t, all, 12)
	require.True(t, all[0].GetRedelivery())
	require.Equal(t, http.StatusOK, all[0].GetStatusCode())

	infos := sim.Deliveries()
	require.Len(t, infos, 12)
	require.Equal(t, ghsim.DeliveryInfo{Event: "workflow_run", Action: "requested", Attempted: true}, infos[0], "failed while paused")
	require.Equal(t, ghsim.DeliveryInfo{Event: "workflow_run", Action: "completed", Attempted: true, StatusCode: http.StatusOK}, infos[11])

	_, _, err = app.Apps.RedeliverHookDelivery(ctx, 1)
	var ghErr *github.ErrorResponse
	require.ErrorAs(t, err, &ghErr)
	require.Equal(t, http.StatusNotFound, ghErr.Response.StatusCode)
}

func TestReceiverErrorsAreRecorded(t *testing.T) {
	t.Parallel()
	down := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	rc := newReceiver(t)
	rc.srv.Config.Handler = down
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	waitCompleted(t, gh, id)
	require.Eventually(t, func() bool { return sim.Stats().WebhooksFailed == 6 }, waitFor, 10*time.Millisecond)

	deliveries, _, err := appClient(t, sim).Apps.ListHookDeliveries(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, deliveries[0].GetStatusCode())
	require.Equal(t, "Invalid HTTP Response: 503", deliveries[0].GetStatus())
	require.EqualValues(t, 6, sim.Stats().WebhooksSent)
}
