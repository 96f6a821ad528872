package handlers

import (
	"context"
	"strings"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/store"
)

// Observer applies what webhooks say.
type Observer interface {
	ObserveRun(ctx context.Context, src store.Source, d *builds.Delivery, run ghclient.Run) error
	ObserveJob(ctx context.Context, d *builds.Delivery, runID int64, runURL, progress string) error
	ObserveRelease(ctx context.Context, d *builds.Delivery, e builds.ReleaseEvent) error
}

// Base is shared by the webhook handlers.
type Base struct {
	Observer Observer
	// Repo is "owner/name": events about other repositories are ignored.
	Repo string
}

func (b Base) ours(fullName string) bool { return strings.EqualFold(fullName, b.Repo) }
