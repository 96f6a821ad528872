package handlers

import (
	"context"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
)

// PullRequest notes the number of a kernels.json pull request as it
// opens, and settles its branch once it merged.
type PullRequest struct{ Base }

func (h *PullRequest) Handles() []string { return []string{"pull_request"} }

func (h *PullRequest) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.PullRequestEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	action, p := e.GetAction(), e.GetPullRequest()
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "opened", "reopened", "closed") {
		return nil
	}
	// A fork's pull request may have a head branch named like ours; its
	// head is a stranger's commits, never ours to note or merge.
	if head := p.GetHead().GetRepo().GetFullName(); !strings.EqualFold(head, e.GetRepo().GetFullName()) {
		zerolog.Ctx(ctx).Debug().Int("pr", p.GetNumber()).Msg("ignoring pull_request of a fork")
		return nil
	}
	return h.Lister.ObservePull(ctx, &builds.Delivery{ID: deliveryID, Event: eventType, Action: action}, action, ghclient.PullRequest{
		Number: p.GetNumber(), URL: p.GetHTMLURL(), State: p.GetState(), Merged: p.GetMerged(),
		HeadRef: p.GetHead().GetRef(), HeadSHA: p.GetHead().GetSHA(), BaseRef: p.GetBase().GetRef(),
	})
}

var _ githubapp.EventHandler = (*PullRequest)(nil)
