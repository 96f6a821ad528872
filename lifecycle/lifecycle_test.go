package lifecycle_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/lifecycle"
)

var (
	created    = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dispatched = created.Add(time.Second)
	now        = created.Add(time.Minute)
)

const runURL = "https://github.com/riptides/driver/actions/runs/42"

// Builds as they are found, one per status.
var (
	queued     = lifecycle.State{Status: lifecycle.StatusQueued, UpdatedAt: created, HeardAt: created}
	inProgress = lifecycle.State{Status: lifecycle.StatusInProgress, Progress: "build / compile", RunID: 42, RunURL: runURL,
		UpdatedAt: dispatched, DispatchedAt: dispatched, HeardAt: dispatched}
	done = lifecycle.State{Status: lifecycle.StatusDone, RunID: 42, RunURL: runURL, DownloadURL: "https://example.com/pkg.deb",
		Digest: "sha256:ab", UpdatedAt: dispatched, DispatchedAt: dispatched, HeardAt: dispatched, FinishedAt: dispatched}
	failed = lifecycle.State{Status: lifecycle.StatusError, Reason: lifecycle.ReasonBuildFailed, RunID: 42, RunURL: runURL,
		UpdatedAt: dispatched, DispatchedAt: dispatched, HeardAt: dispatched, FinishedAt: dispatched}
	// doneNoRun finished before anything said which run built it, as when
	// the poller found the package first.
	doneNoRun = lifecycle.State{Status: lifecycle.StatusDone, UpdatedAt: dispatched, HeardAt: dispatched, FinishedAt: dispatched}
)

func TestApply(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		from   lifecycle.State
		t      lifecycle.Transition
		want   lifecycle.State
		effect lifecycle.Effect
	}{
		// From queued.
		"queued -> queued records what it heard": {
			from:   queued,
			t:      lifecycle.Transition{To: lifecycle.StatusQueued, Progress: "waiting for a runner", Now: now},
			want:   lifecycle.State{Status: lifecycle.StatusQueued, Progress: "waiting for a runner", UpdatedAt: now, HeardAt: now},
			effect: lifecycle.Recorded,
		},
		"queued -> in_progress stamps the dispatch": {
			from: queued,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, RunID: 42, RunURL: runURL, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusInProgress, RunID: 42, RunURL: runURL,
				UpdatedAt: now, DispatchedAt: now, HeardAt: now},
			effect: lifecycle.Moved,
		},
		"queued -> done stamps the finish, not a dispatch": {
			from:   queued,
			t:      lifecycle.Transition{To: lifecycle.StatusDone, Source: lifecycle.SourcePoller, DownloadURL: "u", Now: now},
			want:   lifecycle.State{Status: lifecycle.StatusDone, DownloadURL: "u", UpdatedAt: now, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},
		"queued -> error records the reason": {
			from: queued,
			t: lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed,
				Source: lifecycle.SourceAPI, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed,
				UpdatedAt: now, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},

		// From in_progress.
		"in_progress -> queued is backwards": {
			from:   inProgress,
			t:      lifecycle.Transition{To: lifecycle.StatusQueued, Progress: "queued again", Now: now},
			want:   inProgress,
			effect: lifecycle.Unchanged,
		},
		"in_progress -> in_progress records progress and keeps the first dispatch": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, Progress: "build / package", RunID: 42, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusInProgress, Progress: "build / package", RunID: 42, RunURL: runURL,
				UpdatedAt: now, DispatchedAt: dispatched, HeardAt: now},
			effect: lifecycle.Recorded,
		},
		"in_progress -> in_progress with nothing new still marks it heard": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusInProgress, Progress: "build / compile", RunID: 42, RunURL: runURL,
				UpdatedAt: now, DispatchedAt: dispatched, HeardAt: now},
			effect: lifecycle.Recorded,
		},
		"in_progress -> done": {
			from: inProgress,
			t: lifecycle.Transition{To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, RunID: 42,
				DownloadURL: "u", Digest: "sha256:cd", Now: now},
			want: lifecycle.State{Status: lifecycle.StatusDone, Progress: "build / compile", RunID: 42, RunURL: runURL,
				DownloadURL: "u", Digest: "sha256:cd", UpdatedAt: now, DispatchedAt: dispatched, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},
		"in_progress -> error": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Source: lifecycle.SourceSweeper, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Progress: "build / compile",
				RunID: 42, RunURL: runURL, UpdatedAt: now, DispatchedAt: dispatched, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},

		// From done: post-terminal, nothing moves.
		"done -> queued":      {from: done, t: lifecycle.Transition{To: lifecycle.StatusQueued, Now: now}, want: done},
		"done -> in_progress": {from: done, t: lifecycle.Transition{To: lifecycle.StatusInProgress, Progress: "late", RunID: 42, Now: now}, want: done},
		"done -> done again": {
			from: done,
			t:    lifecycle.Transition{To: lifecycle.StatusDone, DownloadURL: "other", Digest: "sha256:ff", Now: now},
			want: done,
		},
		"done -> error": {from: done, t: lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Now: now}, want: done},

		// From error: post-terminal too.
		"error -> queued":      {from: failed, t: lifecycle.Transition{To: lifecycle.StatusQueued, Now: now}, want: failed},
		"error -> in_progress": {from: failed, t: lifecycle.Transition{To: lifecycle.StatusInProgress, Now: now}, want: failed},
		"error -> done":        {from: failed, t: lifecycle.Transition{To: lifecycle.StatusDone, DownloadURL: "u", Now: now}, want: failed},
		"error -> error again": {
			from: failed,
			t:    lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonCancelled, Now: now},
			want: failed,
		},

		// The From precondition.
		"From matches: the build moves": {
			from: queued,
			t: lifecycle.Transition{From: lifecycle.StatusQueued, To: lifecycle.StatusError,
				Reason: lifecycle.ReasonDispatchFailed, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed,
				UpdatedAt: now, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},
		"From differs: a forward move is refused": {
			from: inProgress,
			t: lifecycle.Transition{From: lifecycle.StatusQueued, To: lifecycle.StatusError,
				Reason: lifecycle.ReasonDispatchFailed, Now: now},
			want: inProgress,
		},
		"From differs: not even the run is filled": {
			from: doneNoRun,
			t:    lifecycle.Transition{From: lifecycle.StatusInProgress, To: lifecycle.StatusError, RunID: 7, RunURL: runURL, Now: now},
			want: doneNoRun,
		},

		// Another run never takes a build over.
		"another run's completion does not finish the build": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusDone, RunID: 43, DownloadURL: "u", Now: now},
			want: inProgress,
		},
		"another run's progress is not recorded": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, RunID: 43, Progress: "other", RunURL: "other", Now: now},
			want: inProgress,
		},
		"a move that names no run is no other run": {
			from: inProgress,
			t:    lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Progress: "build / compile",
				RunID: 42, RunURL: runURL, UpdatedAt: now, DispatchedAt: dispatched, HeardAt: now, FinishedAt: now},
			effect: lifecycle.Moved,
		},
		"the first run a queued build hears of becomes its run": {
			from:   queued,
			t:      lifecycle.Transition{To: lifecycle.StatusQueued, RunID: 43, RunURL: "u43", Now: now},
			want:   lifecycle.State{Status: lifecycle.StatusQueued, RunID: 43, RunURL: "u43", UpdatedAt: now, HeardAt: now},
			effect: lifecycle.Recorded,
		},

		// Late events fill the run, and nothing else.
		"a late event fills the run of a finished build": {
			from: doneNoRun,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, RunID: 42, RunURL: runURL, Progress: "late", Now: now},
			want: lifecycle.State{Status: lifecycle.StatusDone, RunID: 42, RunURL: runURL,
				UpdatedAt: now, HeardAt: dispatched, FinishedAt: dispatched},
			effect: lifecycle.Recorded,
		},
		"a late event fills only what is empty": {
			from: lifecycle.State{Status: lifecycle.StatusDone, RunID: 42, UpdatedAt: dispatched, HeardAt: dispatched, FinishedAt: dispatched},
			t:    lifecycle.Transition{To: lifecycle.StatusDone, RunID: 42, RunURL: runURL, Now: now},
			want: lifecycle.State{Status: lifecycle.StatusDone, RunID: 42, RunURL: runURL,
				UpdatedAt: now, HeardAt: dispatched, FinishedAt: dispatched},
			effect: lifecycle.Recorded,
		},
		"a backward event fills the run of an active build": {
			from: lifecycle.State{Status: lifecycle.StatusInProgress, UpdatedAt: dispatched, DispatchedAt: dispatched, HeardAt: dispatched},
			t:    lifecycle.Transition{To: lifecycle.StatusQueued, RunID: 42, RunURL: runURL, Progress: "queued", Now: now},
			want: lifecycle.State{Status: lifecycle.StatusInProgress, RunID: 42, RunURL: runURL,
				UpdatedAt: now, DispatchedAt: dispatched, HeardAt: dispatched},
			effect: lifecycle.Recorded,
		},
		"a late event about the known run adds nothing": {
			from: done,
			t:    lifecycle.Transition{To: lifecycle.StatusInProgress, RunID: 42, RunURL: runURL, Now: now},
			want: done,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, effect := lifecycle.Apply(tc.from, tc.t)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.effect, effect)
		})
	}
}

// TestApplyCoversEveryPair checks TestApply's premise: its table has a row
// for every status a build can be in and every status it can be told of.
func TestApplyCoversEveryPair(t *testing.T) {
	t.Parallel()
	starts := map[lifecycle.Status]lifecycle.State{
		lifecycle.StatusQueued:     queued,
		lifecycle.StatusInProgress: inProgress,
		lifecycle.StatusDone:       done,
		lifecycle.StatusError:      failed,
	}
	require.Len(t, starts, len(lifecycle.Statuses))
	for _, from := range lifecycle.Statuses {
		for _, to := range lifecycle.Statuses {
			s, ok := starts[from]
			require.True(t, ok, "no build in %s", from)
			_, effect := lifecycle.Apply(s, lifecycle.Transition{To: to, Now: now})
			// The rule in one line, as DESIGN.md states it: forward only,
			// terminal is final, an active status may be heard again.
			forward := !from.Terminal() && (to == from || rank(to) > rank(from))
			require.Equal(t, forward, effect != lifecycle.Unchanged, "%s -> %s", from, to)
			require.Equal(t, forward && to != from, effect == lifecycle.Moved, "%s -> %s", from, to)
		}
	}
}

// rank is the order of DESIGN.md's "queued -> in_progress -> done | error".
func rank(s lifecycle.Status) int {
	return map[lifecycle.Status]int{
		lifecycle.StatusQueued: 0, lifecycle.StatusInProgress: 1, lifecycle.StatusDone: 2, lifecycle.StatusError: 2,
	}[s]
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status           lifecycle.Status
		active, terminal bool
	}{
		{lifecycle.StatusQueued, true, false},
		{lifecycle.StatusInProgress, true, false},
		{lifecycle.StatusDone, false, true},
		{lifecycle.StatusError, false, true},
		{"unknown", false, false},
	} {
		require.Equal(t, tc.active, tc.status.Active(), tc.status)
		require.Equal(t, tc.terminal, tc.status.Terminal(), tc.status)
	}
	require.False(t, lifecycle.Status("unknown").Advances(lifecycle.StatusDone))
	require.False(t, lifecycle.StatusQueued.Advances("unknown"))
}
