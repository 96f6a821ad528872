package builds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Delivery identifies a webhook delivery; a redelivery is a no-op.
type Delivery struct {
	ID, Event, Action string
}

// outcome maps a run's conclusion to a build's end.
func outcome(conclusion string) (lifecycle.Status, lifecycle.Reason) {
	switch conclusion {
	case "success":
		return lifecycle.StatusDone, lifecycle.ReasonNone
	case "cancelled":
		return lifecycle.StatusError, lifecycle.ReasonCancelled
	case "timed_out":
		return lifecycle.StatusError, lifecycle.ReasonTimedOut
	default: // failure, startup_failure, action_required, stale, neutral, skipped
		return lifecycle.StatusError, lifecycle.ReasonBuildFailed
	}
}

// confirming is the progress of a build whose run succeeded and whose
// package is being looked for in the release.
const confirming = "run succeeded; confirming the package in the release"

// confirmed is the progress of a build whose package was found.
const confirmed = "package confirmed in the release"

// ObserveRun applies what a workflow_run webhook or a poll says about a
// run, with the delivery, in one transaction. Runs of other workflows and
// runs whose run-name carries no build of ours are ignored; so is a second
// run of a build (a dispatch retried after an ambiguous failure), by the
// transition rule, under the row lock. A run that
// succeeded ends the build only once its package is in the release: found
// in the index, or at its download URL (no API call), at once; or else by
// a confirmation right after, backed by a confirm job, which may ask the
// API. A webhook never waits on the API.
func (s *Service) ObserveRun(ctx context.Context, src lifecycle.Source, d *Delivery, run ghclient.Run) error {
	buildID := BuildIDFromRunName(run.DisplayTitle)
	ctx = zerolog.Ctx(ctx).With().Int64("run_id", run.ID).Str("build_id", buildID).Logger().WithContext(ctx)
	if !s.ours(run) || buildID == "" {
		return s.apply(ctx, d, func(store.Tx) error { return nil })
	}
	var ended store.Build
	var changed bool
	confirmedIn := "" // the release whose asset may have had its distro version recorded
	confirmNow := false
	seen, absent := s.publishedBeforeApply(ctx, buildID, run)
	err := s.apply(ctx, d, func(tx store.Tx) error {
		b, err := tx.BuildByID(ctx, buildID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load build: %w", err)
		}
		p := lifecycle.Transition{
			ID: b.ID, To: lifecycle.StatusInProgress, Source: src, RunID: run.ID, RunURL: run.URL, Now: s.now(),
			Detail: fmt.Sprintf("run %d %s", run.ID, run.Status),
		}
		if run.Status == "completed" {
			p.To, p.Reason = outcome(run.Conclusion)
			p.Detail += ": " + run.Conclusion
		}
		if p.To == lifecycle.StatusDone && !b.Status.Terminal() {
			asset, indexed, err := s.indexedAsset(ctx, tx, b, seen)
			switch {
			case err != nil:
				return err
			case indexed:
				confirmedIn = asset.Tag
				p.DownloadURL, p.Digest, p.Progress = asset.DownloadURL, asset.Digest, confirmed
			default:
				p.To, p.Progress = lifecycle.StatusInProgress, confirming
				// Confirmed at once, after the commit, by this process;
				// the job, due a retry later, is for when that fails or
				// the process dies first.
				opts := &river.InsertOpts{ScheduledAt: s.now().Add(s.cfg.RetryDelay)}
				if err := tx.InsertJob(ctx, ConfirmArgs{BuildID: b.ID, Source: src}, opts); err != nil {
					return fmt.Errorf("enqueue confirm: %w", err)
				}
				confirmNow = true
			}
		}
		ended, changed, err = s.transition(ctx, tx, p)
		return err
	})
	if err == nil && confirmedIn != "" {
		s.assetsChanged(ctx, confirmedIn)
	}
	if err == nil && confirmNow {
		// Not in the webhook's time: the confirmation may ask GitHub.
		s.Go(ctx, func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, confirmNowTimeout)
			defer cancel()
			if err := s.confirm(ctx, buildID, src, false, !absent); err != nil {
				zerolog.Ctx(ctx).Info().Err(err).Str("build_id", buildID).Msg("confirm the package; the confirm job retries")
			}
		})
	}
	if err == nil {
		s.finished(ended, changed)
	}
	return err
}

// publishedBeforeApply looks for the package of a build whose run
// succeeded at its download URL, before the webhook's transaction, so
// that the build ends done in it: a HEAD and a GET, no API call, bounded
// by publishedTimeout. Not found (nil), the build is confirmed after the
// transaction, without asking the download URL again when it said the
// package is absent (see published).
func (s *Service) publishedBeforeApply(ctx context.Context, buildID string, run ghclient.Run) (seen *store.Asset, absent bool) {
	if run.Status != "completed" || run.Conclusion != "success" {
		return nil, false
	}
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil || b.Status.Terminal() {
		return nil, false
	}
	if _, indexed := s.assets.lookup(b.DriverVersion, b.Package); indexed {
		return nil, false
	}
	ask, cancel := context.WithTimeout(ctx, publishedTimeout)
	defer cancel()
	return s.published(ask, b, kernel.ReleaseTag(b.DriverVersion, b.Package))
}

// publishedTimeout bounds the look at a package's download URL (a HEAD
// and a GET) within a webhook, which GitHub gives 10 seconds.
const publishedTimeout = 2 * time.Second

// confirmNowTimeout bounds the confirmation that follows a run's success
// at once.
const confirmNowTimeout = 30 * time.Second

// ObserveJob applies a workflow_job webhook: it shows the job and step as
// progress. Jobs join their build through the run id; a job of a run we
// do not know yet is left to the run's own events and the poller.
func (s *Service) ObserveJob(ctx context.Context, d *Delivery, runID int64, progress string) error {
	ctx = zerolog.Ctx(ctx).With().Int64("run_id", runID).Logger().WithContext(ctx)
	return s.apply(ctx, d, func(tx store.Tx) error {
		b, err := tx.BuildByRunID(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		_, _, err = tx.BuildTransition(ctx, lifecycle.Transition{
			ID: b.ID, From: lifecycle.StatusInProgress, To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook,
			Progress: progress, Now: s.now(),
		})
		return err
	})
}

// Apply records a webhook delivery and runs fn in its transaction, as
// every handler of ours does.
func (s *Service) Apply(ctx context.Context, d *Delivery, fn func(tx store.Tx) error) error {
	return s.apply(ctx, d, fn)
}

// apply records the delivery and runs fn in one transaction, so that a
// delivery is either wholly applied or not recorded at all (and then the
// redelivery or the poller gets another go).
func (s *Service) apply(ctx context.Context, d *Delivery, fn func(tx store.Tx) error) error {
	return s.store.InTx(ctx, func(tx store.Tx) error {
		if d != nil {
			isNew, err := tx.DeliveryRecord(ctx, d.ID, d.Event, d.Action, s.now())
			if err != nil {
				return fmt.Errorf("record delivery: %w", err)
			}
			if !isNew {
				return nil
			}
		}
		return fn(tx)
	})
}
