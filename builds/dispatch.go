package builds

import (
	"context"
	"fmt"
	"time"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
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
	if b.Status != lifecycle.StatusQueued {
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
			return s.ObserveRun(ctx, lifecycle.SourceAPI, nil, run)
		}
	}
	ref, err := s.gh.Dispatch(ctx, inputs(b))
	if err != nil {
		_, limited := ghclient.RetryAfter(err, s.now())
		if (final && !limited) || ghclient.Permanent(err) {
			log.Error().Err(err).Msg("dispatch failed for good")
			ended, changed, terr := s.store.BuildTransition(ctx, lifecycle.Transition{
				ID: b.ID, From: lifecycle.StatusQueued, To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed,
				Source: lifecycle.SourceAPI, Detail: shortErr(err), Now: s.now(),
			})
			if terr == nil {
				s.finished(ended, changed)
			}
			return terr
		}
		return err
	}
	_, _, err = s.store.BuildTransition(ctx, lifecycle.Transition{
		ID: b.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI,
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
