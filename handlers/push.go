package handlers

import (
	"context"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
)

// Push opens the pull request of a kernels.json branch pushed to, and
// re-applies open ones when the default branch moves.
type Push struct{ Base }

func (h *Push) Handles() []string { return []string{"push"} }

func (h *Push) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.PushEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	// A push has no action; a tag is no branch.
	branch, isBranch := strings.CutPrefix(e.GetRef(), "refs/heads/")
	action := ""
	if !isBranch {
		action = "tag"
	}
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "") {
		return nil
	}
	return h.Lister.ObservePush(ctx, &builds.Delivery{ID: deliveryID, Event: eventType}, branch, e.GetAfter(), e.GetDeleted())
}

var _ githubapp.EventHandler = (*Push)(nil)
