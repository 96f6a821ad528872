package builds

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
)

// dispatchAttempts bounds the retries of one dispatch; with the default
// RetryDelay of 15s the last one runs two and a half minutes in.
const dispatchAttempts = 5

// DispatchArgs is the durable job that dispatches one build's workflow. It
// is inserted in the transaction that creates the build.
type DispatchArgs struct {
	BuildID string `json:"build_id"`
}

func (DispatchArgs) Kind() string { return "dispatch_build" }

// InsertOpts makes the job unique per build.
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: dispatchAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type dispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	svc *Service
}

// NextRetry waits longer than River's first steps (1s, 16s): a dispatch
// that failed ambiguously may have started a run that GitHub lists only
// seconds later, and the retry looks for it before dispatching again.
func (w *dispatchWorker) NextRetry(job *river.Job[DispatchArgs]) time.Time {
	return w.svc.retryAt(job.Attempt)
}

func (w *dispatchWorker) Work(ctx context.Context, job *river.Job[DispatchArgs]) error {
	err := w.svc.Dispatch(ctx, job.Args.BuildID, job.Attempt >= job.MaxAttempts, w.svc.retryAt(job.Attempt))
	var held *LeaseHeldError
	if errors.As(err, &held) {
		// A rescue or an earlier attempt of ours that a crash cut off is
		// at it; a snooze costs no attempt.
		return river.JobSnooze(max(time.Until(held.Until), w.svc.settleTime()))
	}
	if d, limited := ghclient.RetryAfter(err, w.svc.now()); limited {
		zerolog.Ctx(ctx).Warn().Str("build_id", job.Args.BuildID).Dur("retry_after", d).Msg("GitHub rate limit; dispatch postponed")
		return river.JobSnooze(d)
	}
	return err
}

// confirmAttempts bounds how long a succeeded run's package is looked for
// (RetryDelay, then twice that) before the build is package_missing.
const confirmAttempts = 3

// ConfirmArgs is the job that confirms a succeeded run's package is in
// the release, so that webhooks never wait on GitHub.
type ConfirmArgs struct {
	BuildID string `json:"build_id" river:"unique"`
	// Source is who saw the run succeed; the build's end is theirs.
	Source lifecycle.Source `json:"source"`
}

func (ConfirmArgs) Kind() string { return "confirm_package" }

// InsertOpts makes the job unique per build.
func (ConfirmArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: confirmAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type confirmWorker struct {
	river.WorkerDefaults[ConfirmArgs]
	svc *Service
}

func (w *confirmWorker) NextRetry(job *river.Job[ConfirmArgs]) time.Time {
	return w.svc.retryAt(job.Attempt)
}

func (w *confirmWorker) Work(ctx context.Context, job *river.Job[ConfirmArgs]) error {
	return w.svc.Confirm(ctx, job.Args.BuildID, job.Args.Source, job.Attempt >= job.MaxAttempts)
}

// retryAt is when a job that failed its attempt-th time runs again.
func (s *Service) retryAt(attempt int) time.Time {
	return time.Now().Add(time.Duration(attempt) * s.cfg.RetryDelay)
}

// PollArgs is the periodic fallback poll.
type PollArgs struct{}

func (PollArgs) Kind() string { return "poll_builds" }

type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	svc      *Service
	interval time.Duration
}

func (w *pollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	n, err := w.svc.Poll(ctx, w.svc.now().Add(-w.interval))
	if n > 0 {
		zerolog.Ctx(ctx).Info().Int("builds", n).Msg("polled builds that heard no webhook")
	}
	return err
}

// SweepArgs is the periodic timeout sweep.
type SweepArgs struct{}

func (SweepArgs) Kind() string { return "sweep_builds" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	svc *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.svc.Sweep(ctx)
	return err
}

// RefreshArgs is the periodic revalidation of the release asset index.
type RefreshArgs struct{}

func (RefreshArgs) Kind() string { return "refresh_index" }

type refreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	svc *Service
}

func (w *refreshWorker) Work(ctx context.Context, _ *river.Job[RefreshArgs]) error {
	if _, low := w.svc.cfg.Budget.Defer(ctx, ghclient.BucketInstallation, ghclient.WorkIndexRefresh, w.svc.now()); low {
		return nil
	}
	return w.svc.RefreshAll(ctx)
}

// RedeliverArgs is the periodic request for GitHub to redeliver failed
// webhooks.
type RedeliverArgs struct{}

func (RedeliverArgs) Kind() string { return "redeliver_webhooks" }

type redeliverWorker struct {
	river.WorkerDefaults[RedeliverArgs]
	svc    *Service
	window time.Duration
}

func (w *redeliverWorker) Work(ctx context.Context, _ *river.Job[RedeliverArgs]) error {
	if _, low := w.svc.cfg.Budget.Defer(ctx, ghclient.BucketApp, ghclient.WorkRedelivery, w.svc.now()); low {
		return nil
	}
	_, err := w.svc.Redeliver(ctx, w.svc.now().Add(-w.window))
	return err
}

// Periods sets how often the periodic jobs run.
type Periods struct {
	Poll, Sweep, Refresh, Redeliver time.Duration
}

// redeliverWindow is how far back failed deliveries are looked for: an
// outage of the service up to this long is made good by redelivery (the
// poller covers builds beyond it). GitHub keeps deliveries three days.
const redeliverWindow = time.Hour

// RedeliverWindow is how far back redelivery looks: at least three periods.
func (p Periods) RedeliverWindow() time.Duration { return max(redeliverWindow, 3*p.Redeliver) }

// Register adds the workers to workers and returns the periodic jobs, run
// by River's elected leader only, whatever the number of replicas.
func (s *Service) Register(workers *river.Workers, p Periods) []*river.PeriodicJob {
	river.AddWorker(workers, &dispatchWorker{svc: s})
	river.AddWorker(workers, &confirmWorker{svc: s})
	river.AddWorker(workers, &pollWorker{svc: s, interval: p.Poll})
	river.AddWorker(workers, &sweepWorker{svc: s})
	river.AddWorker(workers, &refreshWorker{svc: s})
	river.AddWorker(workers, &redeliverWorker{svc: s, window: p.RedeliverWindow()})
	// Only the leader enqueues periodic jobs, so they need no uniqueness;
	// a failed run is not retried, the next period is the retry.
	periodic := func(every time.Duration, args river.JobArgs, runOnStart bool) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return args, &river.InsertOpts{MaxAttempts: 1} },
			&river.PeriodicJobOpts{RunOnStart: runOnStart})
	}
	return []*river.PeriodicJob{
		// A new leader catches up at once with what happened while none was.
		periodic(p.Poll, PollArgs{}, true),
		periodic(p.Sweep, SweepArgs{}, true),
		// The service refreshes the index itself as it starts.
		periodic(p.Refresh, RefreshArgs{}, false),
		periodic(p.Redeliver, RedeliverArgs{}, true),
	}
}
