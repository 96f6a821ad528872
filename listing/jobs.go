package listing

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/ghclient"
)

// Queue is the River queue of the loop's jobs, and QueueWorkers its
// workers: kernels.json is background work, and a burst of it (fifty
// merges in a row) must not take the workers and the database from the
// builds that fleets wait on.
const (
	Queue        = "kernels_json"
	QueueWorkers = 4
)

// Every job but the periodic reconcile is set off by a build's end or a
// webhook. Each reads GitHub's state before it acts, so a duplicate is
// harmless; uniqueness only saves API calls.

// ProposeArgs proposes a done build's kernel. It is inserted in the
// transaction that ends the build.
type ProposeArgs struct {
	BuildID string `json:"build_id"`
}

func (ProposeArgs) Kind() string { return "propose_kernel" }

func (ProposeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// OpenPullArgs opens the pull request of a branch pushed to.
type OpenPullArgs struct {
	Branch string `json:"branch"`
	SHA    string `json:"sha"`
}

func (OpenPullArgs) Kind() string { return "open_kernel_pr" }

func (OpenPullArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// LandArgs merges a branch's pull request if its checks passed. The
// completions of one head's checks (Check names the check, or the suite)
// share a job while it waits or runs: a check run and its suite complete
// together. A later completion makes a job of its own.
type LandArgs struct {
	Branch string `json:"branch" river:"unique"`
	SHA    string `json:"sha" river:"unique"`
	Check  string `json:"check"`
}

func (LandArgs) Kind() string { return "land_kernel_pr" }

// landAttempts bounds the polls of a mergeability GitHub still computes
// and the retries of a merge the base moved under.
const landAttempts = 8

func (LandArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: landAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// ReapplyArgs re-applies the open branches onto a moved default branch.
// Unique while waiting or running, not after: the running one starts
// over as long as the default branch moves.
type ReapplyArgs struct{}

func (ReapplyArgs) Kind() string { return "reapply_kernel_prs" }

func (ReapplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// SealArgs seals the open batch once its window has passed.
type SealArgs struct{}

func (SealArgs) Kind() string { return "seal_kernel_batch" }

func scheduledAt(t time.Time) *river.InsertOpts {
	return &river.InsertOpts{Queue: Queue, ScheduledAt: t, MaxAttempts: 10}
}

// ReconcileArgs is the periodic reconcile.
type ReconcileArgs struct{}

func (ReconcileArgs) Kind() string { return "reconcile_kernels" }

type worker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	s    *Service
	work func(ctx context.Context, job *river.Job[T]) error
	// periodic jobs come again next period, so they skip one rather than
	// wait.
	periodic bool
}

// Work runs the job, unless the installation's API budget is down to the
// reserve that dispatches and the poller need: next to a node waiting for
// its driver, a kernel's way into kernels.json can wait, so the job waits
// for the budget's reset, and the periodic reconcile skips its period.
func (w *worker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	now := w.s.now()
	if reset, low := w.s.cfg.Budget.Defer(ctx, ghclient.BucketInstallation, ghclient.WorkKernelsJSON, now); low {
		if w.periodic {
			return nil
		}
		return river.JobSnooze(max(0, reset.Sub(now)))
	}
	err := w.work(ctx, job)
	if d, limited := ghclient.RetryAfter(err, w.s.now()); limited {
		zerolog.Ctx(ctx).Warn().Str("job", job.Kind).Dur("retry_after", d).Msg("GitHub rate limit; postponed")
		return river.JobSnooze(d)
	}
	return err
}

// NextRetry waits RetryDelay times the attempt, less for the polls that
// wait on GitHub computing a pull request's mergeability.
func (w *worker[T]) NextRetry(job *river.Job[T]) time.Time {
	d := time.Duration(job.Attempt) * w.s.cfg.RetryDelay
	if len(job.Errors) > 0 {
		if last := job.Errors[len(job.Errors)-1].Error; last == errMergeability.Error() || last == errBaseModified.Error() {
			d = time.Duration(job.Attempt) * time.Second
		}
	}
	return time.Now().Add(d)
}

// Register adds the loop's workers and returns its periodic reconcile,
// run by River's elected leader.
func (s *Service) Register(workers *river.Workers, reconcile time.Duration) []*river.PeriodicJob {
	river.AddWorker(workers, &worker[ProposeArgs]{s: s, work: func(ctx context.Context, j *river.Job[ProposeArgs]) error {
		return s.Propose(ctx, j.Args.BuildID)
	}})
	river.AddWorker(workers, &worker[OpenPullArgs]{s: s, work: func(ctx context.Context, j *river.Job[OpenPullArgs]) error {
		return s.OpenPull(ctx, j.Args.Branch)
	}})
	river.AddWorker(workers, &worker[LandArgs]{s: s, work: func(ctx context.Context, j *river.Job[LandArgs]) error {
		err := s.Land(ctx, j.Args.Branch, j.Args.SHA)
		if errors.Is(err, errMergeability) && j.Attempt >= j.MaxAttempts {
			zerolog.Ctx(ctx).Warn().Str("branch", j.Args.Branch).Msg("GitHub never computed the mergeability; reconcile tries again")
		}
		return err
	}})
	river.AddWorker(workers, &worker[ReapplyArgs]{s: s, work: func(ctx context.Context, _ *river.Job[ReapplyArgs]) error {
		return s.Reapply(ctx)
	}})
	river.AddWorker(workers, &worker[SealArgs]{s: s, work: func(ctx context.Context, _ *river.Job[SealArgs]) error {
		return s.Seal(ctx)
	}})
	river.AddWorker(workers, &worker[ReconcileArgs]{s: s, periodic: true, work: func(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
		// What happened within the last interval is still in the hands of
		// its webhooks and jobs.
		return s.Reconcile(ctx, s.now().Add(-reconcile))
	}})
	if !s.Enabled() {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(reconcile),
		func() (river.JobArgs, *river.InsertOpts) {
			return ReconcileArgs{}, &river.InsertOpts{Queue: Queue, MaxAttempts: 1}
		},
		&river.PeriodicJobOpts{RunOnStart: true})}
}
