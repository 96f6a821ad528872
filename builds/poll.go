package builds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Poll reconciles, through the API, the dispatched builds that heard
// nothing since before the time: the fallback for lost webhooks. Builds
// whose webhooks arrive are never stale and cost no call. Queued builds
// are Rescue's.
func (s *Service) Poll(ctx context.Context, heardBefore time.Time) (polled int, err error) {
	stale, err := s.store.BuildsStale(ctx, store.BuildsStaleParams{HeardBefore: heardBefore, Status: lifecycle.StatusInProgress, Limit: 100})
	if err != nil {
		return 0, fmt.Errorf("list stale builds: %w", err)
	}
	var errs []error
	for _, b := range stale {
		run, found, err := s.findRun(ctx, b)
		switch {
		case err == nil && found:
			err = s.ObserveRun(ctx, lifecycle.SourcePoller, nil, run)
		case err == nil:
			// No run listed yet: the build counts as heard, so it is
			// looked for once an interval, not on every poll.
			_, _, err = s.store.BuildTransition(ctx, lifecycle.Transition{
				ID: b.ID, From: b.Status, To: b.Status, Source: lifecycle.SourcePoller, Now: s.now(),
			})
		}
		if err != nil {
			if _, limited := ghclient.RetryAfter(err, s.now()); limited {
				return polled, err // no point in spending more of the budget
			}
			errs = append(errs, fmt.Errorf("poll build %s: %w", b.ID, err))
			continue
		}
		polled++
	}
	return polled, errors.Join(errs...)
}
