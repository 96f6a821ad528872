package handlers

import (
	"context"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
)

// WorkflowRun moves a build as its run is requested, starts and completes.
type WorkflowRun struct{ Base }

func (h *WorkflowRun) Handles() []string { return []string{"workflow_run"} }

func (h *WorkflowRun) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.WorkflowRunEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	action, run := e.GetAction(), e.GetWorkflowRun()
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "requested", "in_progress", "completed") {
		return nil
	}
	return h.Observer.ObserveRun(ctx, lifecycle.SourceWebhook,
		&builds.Delivery{ID: deliveryID, Event: eventType, Action: action},
		ghclient.Run{
			ID: run.GetID(), URL: run.GetHTMLURL(), Status: run.GetStatus(), Conclusion: run.GetConclusion(),
			DisplayTitle: run.GetDisplayTitle(), Path: run.GetPath(), Event: run.GetEvent(),
		})
}

var _ githubapp.EventHandler = (*WorkflowRun)(nil)
