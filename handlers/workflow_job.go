package handlers

import (
	"context"
	"fmt"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
)

// WorkflowJob shows a running build's job and step as its progress.
type WorkflowJob struct{ Base }

func (h *WorkflowJob) Handles() []string { return []string{"workflow_job"} }

func (h *WorkflowJob) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.WorkflowJobEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	action, job := e.GetAction(), e.GetWorkflowJob()
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "queued", "in_progress", "completed") {
		return nil
	}
	progress := ghclient.JobProgress(job)
	if action == "completed" {
		progress = fmt.Sprintf("%s: completed (%s)", job.GetName(), job.GetConclusion())
	}
	return h.Observer.ObserveJob(ctx, &builds.Delivery{ID: deliveryID, Event: eventType, Action: action},
		job.GetRunID(), progress)
}

var _ githubapp.EventHandler = (*WorkflowJob)(nil)
