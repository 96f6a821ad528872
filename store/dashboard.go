package store

import (
	"context"
	"time"

	"github.com/riptides/driverbuild/lifecycle"
)

// FailureCount is how many builds of one distribution ended in error for
// one reason.
type FailureCount struct {
	Reason       lifecycle.Reason
	Distribution string
	Builds       int
}

// KernelCount is how often nodes asked for one kernel: a kernel the fleet
// runs.
type KernelCount struct {
	Distribution, DistroVersion, KernelVersion, Architecture string
	Requests                                                 int
	LastSeen                                                 time.Time
}

// DashboardQueries are the reads of the operators' dashboard, each a short
// scan however long the history grows.
type DashboardQueries interface {
	// BuildsActive lists the queued and in_progress builds, oldest first.
	BuildsActive(ctx context.Context, limit int) ([]Build, error)
	// BuildsFinished lists the builds that ended, done or error, newest
	// first.
	BuildsFinished(ctx context.Context, limit int) ([]Build, error)
	// BuildFailures counts the builds created at or after since that ended
	// in error, by reason and distribution, most first.
	BuildFailures(ctx context.Context, since time.Time) ([]FailureCount, error)
	// RequestKernels counts the requests received at or after since that
	// were not invalid, by kernel, most asked for first.
	RequestKernels(ctx context.Context, since time.Time) ([]KernelCount, error)
	// ListingsOpen lists the listings whose pull request is open, or about
	// to be (pending, pr_open, checks_failed), newest first.
	ListingsOpen(ctx context.Context, limit int) ([]Listing, error)
}
