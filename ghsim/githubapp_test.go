package ghsim_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// runRecorder is a go-githubapp event handler for workflow_run.
type runRecorder struct {
	mu      sync.Mutex
	actions map[int64][]string
	guids   map[string]bool
}

func (h *runRecorder) Handles() []string { return []string{"workflow_run"} }

func (h *runRecorder) Handle(_ context.Context, _, deliveryID string, payload []byte) error {
	event, err := github.ParseWebHook("workflow_run", payload)
	if err != nil {
		return err
	}
	run := event.(*github.WorkflowRunEvent)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.actions[run.GetWorkflowRun().GetID()] = append(h.actions[run.GetWorkflowRun().GetID()], run.GetAction())
	h.guids[deliveryID] = true
	return nil
}

func (h *runRecorder) seen(id int64) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.actions[id]...)
}

// TestGoGitHubApp uses the simulator exactly as the build-service's
// go-githubapp wiring does: its client creator for the REST API and its
// event dispatcher, which checks signatures, for webhooks.
func TestGoGitHubApp(t *testing.T) {
	t.Parallel()
	recorder := &runRecorder{actions: map[int64][]string{}, guids: map[string]bool{}}
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	hooks := httptest.NewServer(githubapp.NewEventDispatcher([]githubapp.EventHandler{recorder}, sim.WebhookSecret()))
	t.Cleanup(hooks.Close)
	sim.SetWebhookURL(hooks.URL)

	svc := sim.ServiceConfig()
	creator := githubapp.NewClientCreator(svc.GitHub.V3APIURL, "", svc.GitHub.App.IntegrationID, []byte(svc.GitHub.App.PrivateKey))
	ctx := context.Background()

	appGH, err := creator.NewAppClient()
	require.NoError(t, err)
	inst, _, err := appGH.Apps.FindRepositoryInstallation(ctx, svc.Repository.Owner, svc.Repository.Name)
	require.NoError(t, err)

	gh, err := creator.NewInstallationClient(inst.GetID())
	require.NoError(t, err)
	_, err = gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, svc.Repository.Owner, svc.Repository.Name, svc.Repository.Workflow,
		github.CreateWorkflowDispatchEventRequest{Ref: svc.Repository.Ref, Inputs: buildInputs("6.8.0-1")})
	require.NoError(t, err)
	runs, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, svc.Repository.Owner, svc.Repository.Name, nil)
	require.NoError(t, err)
	require.Len(t, runs.WorkflowRuns, 1)
	id := runs.WorkflowRuns[0].GetID()

	require.Eventually(t, func() bool { return len(recorder.seen(id)) == 3 }, waitFor, 10*time.Millisecond)
	require.Equal(t, []string{"requested", "in_progress", "completed"}, recorder.seen(id))
	require.Zero(t, sim.Stats().WebhooksFailed, "the dispatcher accepted every signature")
}
