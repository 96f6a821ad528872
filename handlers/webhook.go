package handlers

import (
	"context"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
)

// Observer applies what webhooks say.
type Observer interface {
	ObserveRun(ctx context.Context, src lifecycle.Source, d *builds.Delivery, run ghclient.Run) error
	ObserveJob(ctx context.Context, d *builds.Delivery, runID int64, progress string) error
	ObserveRelease(ctx context.Context, d *builds.Delivery, e builds.ReleaseEvent) error
}

// Base is shared by the webhook handlers.
type Base struct {
	Observer Observer
	// Repo is "owner/name": events about other repositories are ignored.
	Repo string
}

// accepts reports whether an event is one to act on: one of the actions
// handled, about our repository. It says at debug level why not.
func (b Base) accepts(ctx context.Context, event, action, repo string, actions ...string) bool {
	log := zerolog.Ctx(ctx)
	switch {
	case !slices.Contains(actions, action):
		log.Debug().Str("action", action).Msgf("ignoring %s action", event)
		return false
	case !strings.EqualFold(repo, b.Repo):
		log.Debug().Str("repo", repo).Msgf("ignoring %s of another repository", event)
		return false
	}
	return true
}
