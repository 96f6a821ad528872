package builds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/store"
)

// findRunSlack widens the "created since" filter when looking a run up by
// its run-name, for clock skew between us and GitHub.
const findRunSlack = 2 * time.Minute

// Dispatch starts the workflow run for a queued build. Before a retry it
// first looks for a run that an earlier attempt started (the dispatch may
// have gone through before we could record it), so a build never gets two
// runs. When final is set, or GitHub refused the dispatch as invalid, the
// build ends with dispatch_failed; otherwise the error is returned for the
// job to retry.
func (s *Service) Dispatch(ctx context.Context, buildID string, retry, final bool) error {
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	if b.Status != store.StatusQueued {
		return nil // dispatched already, or ended
	}
	log := logFor(ctx, b)
	if retry {
		run, found, err := s.findRun(ctx, b)
		if err != nil {
			return err
		}
		if found {
			log.Info().Int64("run_id", run.ID).Msg("found the run an earlier dispatch attempt started")
			return s.ObserveRun(ctx, store.SourceAPI, nil, run)
		}
	}
	ref, err := s.gh.Dispatch(ctx, inputs(b))
	if err != nil {
		_, limited := ghclient.RetryAfter(err, s.now())
		if (final && !limited) || ghclient.Permanent(err) {
			log.Error().Err(err).Msg("dispatch failed for good")
			ended, changed, terr := s.store.BuildTransition(ctx, store.BuildTransitionParams{
				ID: b.ID, From: store.StatusQueued, To: store.StatusError, Reason: store.ReasonDispatchFailed,
				Source: store.SourceAPI, Detail: shortErr(err), Now: s.now(),
			})
			if terr == nil {
				s.finished(ended, changed)
			}
			return terr
		}
		return err
	}
	_, _, err = s.store.BuildTransition(ctx, store.BuildTransitionParams{
		ID: b.ID, To: store.StatusInProgress, Source: store.SourceAPI,
		Detail: "workflow dispatched", RunID: ref.ID, RunURL: ref.URL, Now: s.now(),
	})
	if err != nil {
		return fmt.Errorf("record dispatch: %w", err)
	}
	log.Info().Int64("run_id", ref.ID).Msg("workflow dispatched")
	return nil
}

// findRun looks a build's run up by the build id in its run-name.
func (s *Service) findRun(ctx context.Context, b store.Build) (ghclient.Run, bool, error) {
	if b.RunID != 0 {
		run, err := s.gh.Run(ctx, b.RunID)
		return run, err == nil, err
	}
	return s.gh.FindRun(ctx, b.CreatedAt.Add(-findRunSlack), func(title string) bool {
		return BuildIDFromRunName(title) == b.ID
	})
}

// Poll reconciles, through the API, the active builds that heard nothing
// since before the time: the fallback for lost webhooks, and for a
// dispatch that reached GitHub before a crash kept us from recording it.
// Builds whose webhooks arrive are never stale and cost no call.
func (s *Service) Poll(ctx context.Context, heardBefore time.Time) (polled int, err error) {
	stale, err := s.store.BuildsStale(ctx, heardBefore, 100)
	if err != nil {
		return 0, fmt.Errorf("list stale builds: %w", err)
	}
	var errs []error
	for _, b := range stale {
		run, found, err := s.findRun(ctx, b)
		switch {
		case err == nil && found:
			err = s.ObserveRun(ctx, store.SourcePoller, nil, run)
		case err == nil:
			// No run yet (a dispatch still waiting in the queue, say): the
			// build counts as heard, so it is looked for once an interval,
			// not on every poll.
			_, _, err = s.store.BuildTransition(ctx, store.BuildTransitionParams{
				ID: b.ID, From: b.Status, To: b.Status, Source: store.SourcePoller, Now: s.now(),
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

// Sweep ends the builds that were not finished Timeout after dispatch, and
// asks GitHub to cancel their runs so they stop holding a runner.
func (s *Service) Sweep(ctx context.Context) (swept int, err error) {
	overdue, err := s.store.BuildsOverdue(ctx, s.now().Add(-s.cfg.Timeout), 100)
	if err != nil {
		return 0, fmt.Errorf("list overdue builds: %w", err)
	}
	for _, b := range overdue {
		// From: a build dispatched since the listing is not overdue.
		b, changed, err := s.store.BuildTransition(ctx, store.BuildTransitionParams{
			ID: b.ID, From: b.Status, To: store.StatusError, Reason: store.ReasonTimedOut, Source: store.SourceSweeper,
			Detail: fmt.Sprintf("not finished %s after dispatch", s.cfg.Timeout), Now: s.now(),
		})
		if err != nil {
			return swept, fmt.Errorf("time out build %s: %w", b.ID, err)
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
	return swept, nil
}
