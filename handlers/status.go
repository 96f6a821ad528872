package handlers

import (
	"context"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
)

// Status merges a kernels.json pull request once a commit status of its
// head is final and every required check passed.
type Status struct{ Base }

func (h *Status) Handles() []string { return []string{"status"} }

func (h *Status) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.StatusEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	// A status has no action; its state plays the part.
	state := e.GetState()
	if !h.accepts(ctx, eventType, state, e.GetRepo().GetFullName(), "success", "failure", "error") {
		return nil
	}
	d := &builds.Delivery{ID: deliveryID, Event: eventType, Action: state}
	// The branches whose head the commit is; a status names no pull request.
	branch := ""
	for _, b := range e.Branches {
		if b.GetCommit().GetSHA() == e.GetSHA() {
			branch = b.GetName()
			break
		}
	}
	return h.Lister.ObserveCheck(ctx, d, branch, e.GetSHA(), "status "+e.GetContext())
}

var _ githubapp.EventHandler = (*Status)(nil)
