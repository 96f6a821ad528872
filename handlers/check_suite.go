package handlers

import (
	"context"
	"fmt"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/builds"
)

// CheckSuite merges a kernels.json pull request once its head's checks
// completed and every required one passed.
type CheckSuite struct{ Base }

func (h *CheckSuite) Handles() []string { return []string{"check_suite"} }

func (h *CheckSuite) Handle(ctx context.Context, eventType, deliveryID string, payload []byte) error {
	var e github.CheckSuiteEvent
	if err := decodePayload(eventType, payload, &e); err != nil {
		return err
	}
	action, suite := e.GetAction(), e.GetCheckSuite()
	if !h.accepts(ctx, eventType, action, e.GetRepo().GetFullName(), "completed") {
		return nil
	}
	return h.Lister.ObserveCheck(ctx, &builds.Delivery{ID: deliveryID, Event: eventType, Action: action},
		suite.GetHeadBranch(), suite.GetHeadSHA(), fmt.Sprintf("suite %d", suite.GetID()))
}

var _ githubapp.EventHandler = (*CheckSuite)(nil)
