// Package lifecycle is the build state machine: the statuses a build goes
// through, why it ended, who moved it, and the rule that decides what an
// observation (a dispatch, a webhook, a poll, the sweeper) does to a build.
// The store applies the rule under its row lock; the services decide with it.
package lifecycle

import "time"

// Status is where a build is in its life.
type Status string

const (
	StatusQueued     Status = "queued"      // accepted, dispatch pending
	StatusInProgress Status = "in_progress" // dispatched or running
	StatusDone       Status = "done"
	StatusError      Status = "error"
)

// Statuses lists every status in the order a build goes through them.
var Statuses = []Status{StatusQueued, StatusInProgress, StatusDone, StatusError}

// Terminal reports whether no further transition may leave s.
func (s Status) Terminal() bool { return s == StatusDone || s == StatusError }

// Active reports whether a build in s holds its cache key.
func (s Status) Active() bool { return s == StatusQueued || s == StatusInProgress }

func (s Status) rank() int {
	switch s {
	case StatusQueued:
		return 0
	case StatusInProgress:
		return 1
	case StatusDone, StatusError:
		return 2
	}
	return -1
}

// Advances reports whether moving from s to next is a forward transition.
// A terminal status is never left, and nothing moves back: a late or
// duplicated event must not undo what a newer one said. A status that is
// none of Statuses neither advances nor is advanced to.
func (s Status) Advances(next Status) bool {
	return s.Active() && next.rank() > s.rank()
}

// Reason says why a build ended in StatusError.
type Reason string

const (
	ReasonNone           Reason = ""
	ReasonDispatchFailed Reason = "dispatch_failed"
	ReasonBuildFailed    Reason = "build_failed"
	ReasonCancelled      Reason = "cancelled"
	ReasonTimedOut       Reason = "timed_out"
	ReasonPackageMissing Reason = "package_missing"
)

// Reasons lists every reason a build may end in StatusError for.
var Reasons = []Reason{ReasonDispatchFailed, ReasonBuildFailed, ReasonCancelled, ReasonTimedOut, ReasonPackageMissing}

// Source says who moved a build: the audit trail's "who".
type Source string

const (
	SourceAPI     Source = "api"
	SourceWebhook Source = "webhook"
	SourcePoller  Source = "poller"
	SourceSweeper Source = "sweeper"
)

// State is the part of a build its life changes.
type State struct {
	Status      Status
	Reason      Reason
	Progress    string // latest job/step name, for humans
	RunID       int64  // 0 until the workflow run is known
	RunURL      string
	DownloadURL string
	Digest      string // "sha256:<hex>" of the package, when known

	UpdatedAt    time.Time
	DispatchedAt time.Time // zero until dispatched
	HeardAt      time.Time // last time anything (dispatch, webhook, poll) told us about it
	FinishedAt   time.Time // zero until terminal
}

// Transition is what an observer learned about a build. Empty fields leave
// the build's value alone.
type Transition struct {
	ID string // the build's
	// From, when set, is a precondition: the build moves only if it is
	// still in this status. A decision made on an earlier read (dispatch
	// failed, build overdue) must not hit a build that moved meanwhile.
	From        Status
	To          Status
	Reason      Reason
	Source      Source
	Detail      string // free text for the event row, e.g. "run 42 completed: failure"
	Progress    string
	RunID       int64
	RunURL      string
	DownloadURL string
	Digest      string
	Now         time.Time
}

// Effect is what applying a transition did.
type Effect int

const (
	// Unchanged: nothing to write.
	Unchanged Effect = iota
	// Recorded: fields changed, the status did not; no event row.
	Recorded
	// Moved: the status advanced; the move is an event row.
	Moved
)

// Apply returns s after t:
//   - a build not in t.From (when set) is not changed at all;
//   - a build follows the first run it was told of: news about another run
//     (t.RunID set and different) changes nothing;
//   - when t.To advances the status, the build moves, DispatchedAt or
//     FinishedAt are stamped as fits, and the non-empty fields are recorded;
//   - when t.To is the current, non-terminal status, the non-empty fields
//     and HeardAt are recorded;
//   - anything else (a backward or post-terminal event) only fills RunID and
//     RunURL where they were empty.
func Apply(s State, t Transition) (State, Effect) {
	if t.From != "" && s.Status != t.From {
		return s, Unchanged
	}
	if s.RunID != 0 && t.RunID != 0 && t.RunID != s.RunID {
		return s, Unchanged
	}
	switch {
	case s.Status.Advances(t.To):
		s.Status = t.To
		if t.To == StatusInProgress && s.DispatchedAt.IsZero() {
			s.DispatchedAt = t.Now
		}
		if t.To.Terminal() {
			s.FinishedAt = t.Now
		}
		return record(s, t), Moved
	case t.To == s.Status && !s.Status.Terminal():
		return record(s, t), Recorded
	}
	// A late or duplicated event still tells us which run the build is,
	// which is all it may add.
	filled := fill(&s.RunID, t.RunID)
	filled = fill(&s.RunURL, t.RunURL) || filled
	if !filled {
		return s, Unchanged
	}
	s.UpdatedAt = t.Now
	return s, Recorded
}

// record copies the non-empty fields of t into s and marks it heard from.
func record(s State, t Transition) State {
	set(&s.Reason, t.Reason)
	set(&s.Progress, t.Progress)
	fill(&s.RunID, t.RunID)
	fill(&s.RunURL, t.RunURL)
	set(&s.DownloadURL, t.DownloadURL)
	set(&s.Digest, t.Digest)
	s.UpdatedAt = t.Now
	s.HeardAt = t.Now
	return s
}

// fill sets an empty dst to a non-empty v, and reports whether it did.
func fill[T comparable](dst *T, v T) bool {
	var zero T
	if *dst != zero || v == zero {
		return false
	}
	*dst = v
	return true
}

func set[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
