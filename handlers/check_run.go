package handlers

import (
	"context"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
)

// CheckRun merges a kernels.json pull request once a check of its head
// completed and every required one passed.
type CheckRun struct{ Base }

func (h *CheckRun) Handles() []string { return []string{"check_run"} }

func (h *CheckRun) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.CheckRunEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	action, run := e.GetAction(), e.GetCheckRun()
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "completed") {
		return nil
	}
	return h.Lister.ObserveCheck(ctx, &builds.Delivery{ID: deliveryID, Event: eventType, Action: action},
		run.GetCheckSuite().GetHeadBranch(), run.GetHeadSHA(), "run "+run.GetName())
}

var _ githubapp.EventHandler = (*CheckRun)(nil)
