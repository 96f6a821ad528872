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

// findRunSlack widens the "created since" filter when looking a run up by
// its run-name, for clock skew between us and GitHub.
const findRunSlack = 2 * time.Minute

// Lease terms, derived from the poll interval P: an attempt may call
// GitHub for attemptTime (P/3, at least 2 s), and nobody else may try for
// settleTime (P/6 at most) after it, so that a run a cut-off attempt
// started is listed before anyone looks for it. A replica that dies
// mid-attempt costs its builds at most the lease and a rescue tick, P/2
// each once P is 6 s or more: a restart plus one poll interval.
func (s *Service) attemptTime() time.Duration {
	return max(s.cfg.PollInterval/3, 2*time.Second)
}

func (s *Service) settleTime() time.Duration { return min(s.cfg.RetryDelay, s.cfg.PollInterval/6) }

func (s *Service) leaseTerm() time.Duration { return s.attemptTime() + s.settleTime() }

// RescueEvery is how often each replica runs Rescue.
func (s *Service) RescueEvery() time.Duration { return s.cfg.PollInterval / 2 }

// LeaseHeldError means another attempt holds the build's dispatch until Until.
type LeaseHeldError struct{ Until time.Time }

func (e *LeaseHeldError) Error() string {
	return "another dispatch attempt holds the build until " + e.Until.Format(time.RFC3339Nano)
}

// attempt says how a dispatch attempt runs.
type attempt struct {
	source lifecycle.Source
	// reconcile looks for a run before dispatching, even when no earlier
	// attempt is on record.
	reconcile bool
	// final ends the build with dispatch_failed when the attempt fails.
	final bool
	// retryAt is when the caller tries again after a failure, on this
	// machine's clock, as River's are; nobody else does before then.
	retryAt time.Time
	// leaseUntil is when the attempt's dispatch lease ends, on the
	// database's clock.
	leaseUntil time.Time
}

// Dispatch is one attempt of the dispatch job to start the workflow run of
// a queued build. A failure is returned for the job to retry at retryAt;
// on the final attempt, or when GitHub refused the dispatch as invalid,
// the build ends with dispatch_failed instead.
func (s *Service) Dispatch(ctx context.Context, buildID string, final bool, retryAt time.Time) error {
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	return s.dispatch(ctx, b, attempt{source: lifecycle.SourceAPI, final: final, retryAt: retryAt})
}

// dispatch runs one attempt under the build's dispatch lease. Whoever
// takes a lease that was taken before first looks for the run an earlier
// attempt may have started (the dispatch may have gone through before it
// could be recorded), so a build never gets two runs.
func (s *Service) dispatch(ctx context.Context, b store.Build, a attempt) error {
	if b.Status != lifecycle.StatusQueued {
		return nil // dispatched already, or ended
	}
	lease, err := s.takeLease(ctx, b.ID, time.Time{}, s.leaseTerm())
	if err != nil {
		return err
	}
	// The holder before us may have dispatched it.
	if b, err = s.store.BuildByID(ctx, b.ID); err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	if b.Status != lifecycle.StatusQueued {
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, s.attemptTime())
	defer cancel()
	a.leaseUntil = lease.Until
	err = s.tryDispatch(ctx, callCtx, b, &a, a.reconcile || lease.Attempted)
	if err == nil {
		return nil
	}
	// Keep the others off until the caller's retry, so that a backoff or
	// a rate limit is not undone by a rescue.
	wait := time.Until(a.retryAt)
	if d, limited := ghclient.RetryAfter(err, s.now()); limited {
		wait = d
	}
	if wait > 0 {
		var held *LeaseHeldError
		if _, lerr := s.takeLease(ctx, b.ID, a.leaseUntil, wait); lerr != nil && !errors.As(lerr, &held) {
			logFor(ctx, b).Warn().Err(lerr).Msg("extend dispatch lease")
		}
	}
	return err
}

// takeLease takes a build's dispatch lease for term, unless another holds
// it: past held, the end of the lease the caller holds, which it extends;
// or at all, when the caller holds none (held is zero). Leases are on the
// database's clock, so that a replica whose clock runs ahead does not take
// one another still holds; a LeaseHeldError says when it ends on ours.
func (s *Service) takeLease(ctx context.Context, buildID string, held time.Time, term time.Duration) (store.DispatchLease, error) {
	lease, err := s.store.DispatchLease(ctx, store.DispatchLeaseParams{BuildID: buildID, Held: held, Term: term})
	if err == nil && !lease.Taken {
		err = &LeaseHeldError{Until: time.Now().Add(lease.Left)}
	}
	return lease, err
}

// tryDispatch reconciles when asked, then dispatches. GitHub is called
// with callCtx, which ends with the attempt's share of the lease; the
// outcome is recorded with ctx.
func (s *Service) tryDispatch(ctx, callCtx context.Context, b store.Build, a *attempt, reconcile bool) error {
	log := logFor(ctx, b)
	if reconcile {
		run, found, err := s.findRun(callCtx, b)
		if err != nil {
			return err
		}
		if found {
			log.Info().Int64("run_id", run.ID).Msg("found the run an earlier dispatch attempt started")
			return s.ObserveRun(ctx, a.source, nil, run)
		}
	}
	ref, err := s.gh.Dispatch(callCtx, inputs(b))
	if err != nil {
		_, limited := ghclient.RetryAfter(err, s.now())
		if a.final && !limited && !ghclient.Permanent(err) {
			// GitHub may have started the run and lost its answer: the
			// build is not given up while that run goes on.
			run, found, lerr := s.runAfterAmbiguousDispatch(ctx, b, a)
			if lerr != nil {
				return lerr
			}
			if found {
				log.Info().Int64("run_id", run.ID).Msg("the last dispatch attempt's answer was lost, but its run started")
				return s.ObserveRun(ctx, a.source, nil, run)
			}
		}
		if (a.final && !limited) || ghclient.Permanent(err) {
			log.Error().Err(err).Msg("dispatch failed for good")
			msg := ghclient.Message(err)
			ended, changed, terr := s.store.BuildTransition(ctx, lifecycle.Transition{
				ID: b.ID, From: lifecycle.StatusQueued, To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed,
				Source: a.source, Detail: shortErr(err), Progress: "dispatch failed: " + msg, Now: s.now(),
			})
			if terr == nil {
				s.finished(ended, changed)
			}
			return terr
		}
		return err
	}
	_, _, err = s.store.BuildTransition(ctx, lifecycle.Transition{
		ID: b.ID, To: lifecycle.StatusInProgress, Source: a.source,
		Detail: "workflow dispatched", RunID: ref.ID, RunURL: ref.URL, Now: s.now(),
	})
	if err != nil {
		return fmt.Errorf("record dispatch: %w", err)
	}
	log.Info().Int64("run_id", ref.ID).Msg("workflow dispatched")
	return nil
}

// runAfterAmbiguousDispatch looks for the run of a build whose last
// dispatch attempt failed without GitHub saying it refused: a 5xx or a
// timeout may come after the run was created. The runs listing lags a
// dispatch by a moment, so it is read after the settle time, under the
// lease held on for that long: a rescuer must not dispatch meanwhile.
// An error means the lease is another's now, and the build its to end.
func (s *Service) runAfterAmbiguousDispatch(ctx context.Context, b store.Build, a *attempt) (ghclient.Run, bool, error) {
	lease, err := s.takeLease(ctx, b.ID, a.leaseUntil, s.settleTime()+s.attemptTime())
	if err != nil {
		return ghclient.Run{}, false, err
	}
	a.leaseUntil = lease.Until
	select {
	case <-ctx.Done():
		return ghclient.Run{}, false, ctx.Err()
	case <-time.After(s.settleTime()):
	}
	findCtx, cancel := context.WithTimeout(ctx, s.attemptTime())
	defer cancel()
	run, found, err := s.findRun(findCtx, b)
	if err != nil {
		logFor(ctx, b).Warn().Err(err).Msg("look for the run of the last dispatch attempt")
	}
	return run, err == nil && found, nil
}

// Rescue takes over the queued builds whose dispatch nobody holds: their
// job died with a replica (River would rescue it only minutes later), or
// has not run for a lease term. Every replica runs it, not only River's
// leader, since a dead leader is replaced only after a while; the lease
// keeps them from dispatching one build twice.
func (s *Service) Rescue(ctx context.Context) (rescued int, err error) {
	stale, err := s.store.BuildsStale(ctx, store.BuildsStaleParams{
		HeardBefore: s.now().Add(-s.leaseTerm()), Status: lifecycle.StatusQueued, Limit: 100,
	})
	if err != nil {
		return 0, fmt.Errorf("list queued builds: %w", err)
	}
	var errs []error
	for _, b := range stale {
		err := s.dispatch(ctx, b, attempt{source: lifecycle.SourcePoller, reconcile: true, retryAt: time.Now().Add(s.cfg.RetryDelay)})
		var held *LeaseHeldError
		switch {
		case errors.As(err, &held):
			continue
		case err != nil:
			if _, limited := ghclient.RetryAfter(err, s.now()); limited {
				return rescued, err
			}
			errs = append(errs, fmt.Errorf("rescue build %s: %w", b.ID, err))
			continue
		}
		rescued++
	}
	return rescued, errors.Join(errs...)
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
