package builds

import (
	"context"
	"errors"
	"fmt"

	"github.com/riptides/driverbuild/lifecycle"
)

// Sweep ends the builds that were not finished Timeout after dispatch, and
// asks GitHub to cancel their runs so they stop holding a runner.
func (s *Service) Sweep(ctx context.Context) (swept int, err error) {
	overdue, err := s.store.BuildsOverdue(ctx, s.now().Add(-s.cfg.Timeout), 100)
	if err != nil {
		return 0, fmt.Errorf("list overdue builds: %w", err)
	}
	var errs []error
	for _, over := range overdue {
		// From: a build dispatched since the listing is not overdue.
		b, changed, err := s.store.BuildTransition(ctx, lifecycle.Transition{
			ID: over.ID, From: over.Status, To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Source: lifecycle.SourceSweeper,
			Detail: fmt.Sprintf("not finished %s after dispatch", s.cfg.Timeout), Now: s.now(),
		})
		if err != nil {
			// One build that cannot be ended must not keep the sweep from
			// those behind it.
			errs = append(errs, fmt.Errorf("time out build %s: %w", over.ID, err))
			continue
		}
		if !changed {
			continue
		}
		s.finished(b, changed)
		swept++
		logFor(ctx, b).Warn().Msg("build timed out")
		if b.RunID != 0 {
			if err := s.gh.CancelRun(ctx, b.RunID); err != nil {
				logFor(ctx, b).Warn().Err(err).Int64("run_id", b.RunID).Msg("cancel timed-out run")
			}
		}
	}
	return swept, errors.Join(errs...)
}
