package handlers

import (
	"context"

	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
)

// Release keeps the asset index current as releases are published.
type Release struct{ Base }

func (h *Release) Handles() []string { return []string{"release"} }

// releaseEvent is decoded here rather than with go-github's type: v66's
// ReleaseAsset has no digest.
type releaseEvent struct {
	Action  string `json:"action"`
	Release struct {
		ID      int64            `json:"id"`
		TagName string           `json:"tag_name"`
		Draft   bool             `json:"draft"`
		Assets  []ghclient.Asset `json:"assets"`
	} `json:"release"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

func (h *Release) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e releaseEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	if !h.accepts(ctx, eventType, e.Action, e.Repository.FullName,
		"published", "created", "released", "prereleased", "edited", "deleted", "unpublished") {
		return nil
	}
	return h.Observer.ObserveRelease(ctx, &builds.Delivery{ID: deliveryID, Event: eventType, Action: e.Action},
		builds.ReleaseEvent{
			ReleaseID: e.Release.ID, Tag: e.Release.TagName, Assets: e.Release.Assets,
			// A draft's assets cannot be downloaded without credentials.
			Gone: e.Action == "deleted" || e.Action == "unpublished" || e.Release.Draft,
		})
}

var _ githubapp.EventHandler = (*Release)(nil)
