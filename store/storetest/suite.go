package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Run is the conformance suite. open returns a fresh, empty store, closed
// when its test ends; Run opens one to share between the tests whose rows
// cannot meet, and one each for those that read whole tables or use River.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	shared := open(t)
	for name, test := range map[string]func(*testing.T, store.Store){
		"BuildCreate":               testBuildCreate,
		"BuildCreateConcurrent":     testBuildCreateConcurrent,
		"BuildCreateInTx":           testBuildCreateInTx,
		"BuildCreateAfterDone":      testBuildCreateAfterDone,
		"BuildCreateWhileFinishing": testBuildCreateWhileFinishing,
		"BuildLatestByKey":          testBuildLatestByKey,
		"BuildByRunID":              testBuildByRunID,
		"BuildTransition":           testBuildTransition,
		"BuildTransitionConcurrent": testBuildTransitionConcurrent,
		"BuildEvents":               testBuildEvents,
		"Times":                     testTimes,
		"NotFound":                  testNotFound,
		"Deliveries":                testDeliveries,
		"Releases":                  testReleases,
		"Assets":                    testAssets,
		"ReleaseDelete":             testReleaseDelete,
		"Ping":                      testPing,
		"DispatchLease":             testDispatchLease,
		"DispatchLeaseConcurrent":   testDispatchLeaseConcurrent,
		"Clock":                     testClock,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, shared)
		})
	}
	for name, test := range map[string]func(*testing.T, func(testing.TB) store.Store){
		"BuildsStale":        testBuildsStale,
		"BuildsOverdue":      testBuildsOverdue,
		"RequestsRecent":     testRequestsRecent,
		"BuildsList":         testBuildsList,
		"RequestsList":       testRequestsList,
		"DeliveriesList":     testDeliveriesList,
		"ReleaseTags":        testReleaseTags,
		"ReleaseAssetCounts": testReleaseAssetCounts,
		"Jobs":               testJobs,
		"Dashboard":          testDashboard,
		"Listings":           testListings,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open)
		})
	}
}

// base is a whole second, so at(n) survives the microsecond truncation.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// odd is a time a store must normalize: nanoseconds, and not in UTC.
var (
	odd           = time.Date(2025, 6, 1, 14, 0, 0, 123456789, time.FixedZone("CEST", 2*60*60))
	oddNormalized = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
)

func newID() string { return strings.ToLower(rand.Text()) }

// createParams describes a new build whose ID and cache key no other test uses.
func createParams(now time.Time) store.BuildCreateParams {
	id := newID()
	return store.BuildCreateParams{
		ID:       id,
		CacheKey: "6.8.0-1021-gcp:amd64:ubuntu:24.04:v0.1.2:" + id,
		Request: kernel.Request{
			KernelVersion: "6.8.0-1021-gcp",
			Architecture:  "amd64",
			Distribution:  "ubuntu",
			DistroVersion: "24.04",
			DriverVersion: "v0.1.2",
		},
		Package: "riptides-driver-ubuntu-6.8.0-1021-gcp_v0.1.2_amd64.deb",
		Now:     now,
	}
}

// queued is the build BuildCreate should make of p.
func queued(p store.BuildCreateParams) store.Build {
	return store.Build{
		ID:       p.ID,
		CacheKey: p.CacheKey,
		Request:  p.Request,
		Package:  p.Package,
		State: lifecycle.State{
			Status:    lifecycle.StatusQueued,
			UpdatedAt: p.Now,
			HeardAt:   p.Now,
		},
		CreatedAt: p.Now,
	}
}

func mustCreate(t *testing.T, q store.Queries, p store.BuildCreateParams) store.Build {
	t.Helper()
	b, created, err := q.BuildCreate(t.Context(), p)
	require.NoError(t, err)
	require.True(t, created)
	return b
}

func mustTransition(t *testing.T, q store.Queries, p lifecycle.Transition) store.Build {
	t.Helper()
	b, _, err := q.BuildTransition(t.Context(), p)
	require.NoError(t, err)
	return b
}

// events returns the build's events without their IDs, after checking that
// the IDs grow in the order the events happened.
func events(t *testing.T, q store.Queries, buildID string) []store.Event {
	t.Helper()
	es, err := q.BuildEvents(t.Context(), buildID)
	require.NoError(t, err)
	for i := range es {
		if i > 0 {
			require.Greater(t, es[i].ID, es[i-1].ID)
		}
		es[i].ID = 0
	}
	return es
}

func creationEvent(p store.BuildCreateParams) store.Event {
	return store.Event{BuildID: p.ID, To: lifecycle.StatusQueued, Source: lifecycle.SourceAPI, CreatedAt: p.Now}
}

func testBuildCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createParams(at(0))
	b, isNew, err := s.BuildCreate(ctx, p)
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, queued(p), b)
	got, err := s.BuildByID(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, b, got)
	require.Equal(t, []store.Event{creationEvent(p)}, events(t, s, p.ID))

	// A second request for the key gets the queued build.
	dup := p
	dup.ID = newID()
	dup.Now = at(1)
	got, isNew, err = s.BuildCreate(ctx, dup)
	require.NoError(t, err)
	require.False(t, isNew)
	require.Equal(t, b, got)
	_, err = s.BuildByID(ctx, dup.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	// A running build still holds the key.
	running := mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Now: at(2)})
	got, isNew, err = s.BuildCreate(ctx, dup)
	require.NoError(t, err)
	require.False(t, isNew)
	require.Equal(t, running, got)

	// A finished one frees it.
	mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusError, Reason: lifecycle.ReasonBuildFailed, Source: lifecycle.SourceWebhook, Now: at(3)})
	dup.Now = at(4)
	got, isNew, err = s.BuildCreate(ctx, dup)
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, queued(dup), got)

	// An ID is never reused, whatever the key.
	other := createParams(at(5))
	other.ID = p.ID
	_, _, err = s.BuildCreate(ctx, other)
	require.ErrorIs(t, err, store.ErrConflict)
}

func testBuildCreateConcurrent(t *testing.T, s store.Store) {
	const n = 64
	p := createParams(at(0))
	var (
		wg      sync.WaitGroup
		builds  [n]store.Build
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			pi := p
			pi.ID = newID()
			builds[i], created[i], errs[i] = s.BuildCreate(t.Context(), pi)
		})
	}
	wg.Wait()

	winners := 0
	for i := range n {
		require.NoError(t, errs[i])
		if created[i] {
			winners++
		}
		require.Equal(t, builds[0].ID, builds[i].ID, "every request gets the one build")
	}
	require.Equal(t, 1, winners)
	require.Len(t, events(t, s, builds[0].ID), 1)
}

func testBuildCreateInTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createParams(at(0))
	err := s.InTx(ctx, func(tx store.Tx) error {
		b := mustCreate(t, tx, p)

		dup := p
		dup.ID = newID()
		got, isNew, err := tx.BuildCreate(ctx, dup)
		require.NoError(t, err)
		require.False(t, isNew)
		require.Equal(t, b, got)

		// A conflict leaves the transaction usable and adds nothing to it.
		clash := createParams(at(1))
		clash.ID = p.ID
		_, _, err = tx.BuildCreate(ctx, clash)
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = tx.BuildLatestByKey(ctx, clash.CacheKey)
		require.ErrorIs(t, err, store.ErrNotFound)
		return nil
	})
	require.NoError(t, err)

	got, err := s.BuildByID(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, queued(p), got)
	require.Equal(t, []store.Event{creationEvent(p)}, events(t, s, p.ID))
}

// testBuildCreateAfterDone: a request that found no package before the
// key's build ended done gets that build; one that looked after it ended,
// and still found no package, gets a new build.
func testBuildCreateAfterDone(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createParams(at(0))
	mustCreate(t, s, p)
	mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Now: at(1)})
	done := mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook,
		DownloadURL: "https://example.com/pkg.deb", Digest: "sha256:ab", Now: at(3)})

	for name, readAt := range map[string]time.Time{
		"read before the build ended": at(2),
		"read as it ended":            at(3),
	} {
		late := p
		late.ID, late.Now, late.IndexReadAt = newID(), at(4), readAt
		got, isNew, err := s.BuildCreate(ctx, late)
		require.NoError(t, err, name)
		require.False(t, isNew, name)
		require.Equal(t, done, got, name)
	}
	_, err := s.BuildByID(ctx, p.ID)
	require.NoError(t, err)

	// Looked after the build ended and found no package: it left the index.
	again := p
	again.ID, again.Now, again.IndexReadAt = newID(), at(6), at(5)
	got, isNew, err := s.BuildCreate(ctx, again)
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, queued(again), got)

	// A failed build answers nobody: retrying it is the service's policy.
	failed := createParams(at(0))
	mustTransition(t, s, lifecycle.Transition{ID: mustCreate(t, s, failed).ID, To: lifecycle.StatusError,
		Reason: lifecycle.ReasonBuildFailed, Source: lifecycle.SourceWebhook, Now: at(3)})
	retry := failed
	retry.ID, retry.Now, retry.IndexReadAt = newID(), at(4), at(2)
	_, isNew, err = s.BuildCreate(ctx, retry)
	require.NoError(t, err)
	require.True(t, isNew)
}

// testBuildCreateWhileFinishing races requests that found no package
// against the end of the build they would duplicate: whichever way each
// goes, it gets that one build, and the key never gets a second.
func testBuildCreateWhileFinishing(t *testing.T, s store.Store) {
	const n = 64
	p := createParams(at(0))
	first := mustCreate(t, s, p)
	mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Now: at(1)})
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		builds  [n]store.Build
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			pi := p
			pi.ID, pi.Now, pi.IndexReadAt = newID(), at(4), at(2)
			builds[i], created[i], errs[i] = s.BuildCreate(t.Context(), pi)
		})
	}
	var finishErr error
	wg.Go(func() {
		<-start
		_, _, finishErr = s.BuildTransition(t.Context(), lifecycle.Transition{ID: p.ID, To: lifecycle.StatusDone,
			Source: lifecycle.SourceWebhook, Now: at(3)})
	})
	close(start)
	wg.Wait()

	require.NoError(t, finishErr)
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, created[i], "request %d made a second build", i)
		require.Equal(t, first.ID, builds[i].ID)
	}
	latest, err := s.BuildLatestByKey(t.Context(), p.CacheKey)
	require.NoError(t, err)
	require.Equal(t, first.ID, latest.ID)
	require.Equal(t, lifecycle.StatusDone, latest.Status)
}

func testBuildLatestByKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := createParams(at(0))
	mustCreate(t, s, first)
	got, err := s.BuildLatestByKey(ctx, first.CacheKey)
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)

	done := mustTransition(t, s, lifecycle.Transition{ID: first.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at(1)})
	got, err = s.BuildLatestByKey(ctx, first.CacheKey)
	require.NoError(t, err)
	require.Equal(t, done, got, "a finished build is still the latest")

	second := first
	second.ID = newID()
	second.Now = at(2)
	mustCreate(t, s, second)
	got, err = s.BuildLatestByKey(ctx, first.CacheKey)
	require.NoError(t, err)
	require.Equal(t, second.ID, got.ID)
}

func testBuildByRunID(t *testing.T, s store.Store) {
	ctx := t.Context()
	runID := mathrand.Int64N(1<<53) + 1
	p := createParams(at(0))
	mustCreate(t, s, p)
	mustCreate(t, s, createParams(at(0)))
	b := mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusInProgress, RunID: runID, Source: lifecycle.SourceWebhook, Now: at(1)})

	got, err := s.BuildByRunID(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, b, got)
	_, err = s.BuildByRunID(ctx, 0)
	require.ErrorIs(t, err, store.ErrNotFound, "0 means no run, not every build without one")
}

func testBuildTransition(t *testing.T, s store.Store) {
	type params = lifecycle.Transition
	const runURL = "https://github.com/riptides/driver/actions/runs/42"
	dispatch := params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Detail: "dispatched", Now: at(1)}
	running := params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Progress: "checkout", RunID: 42, RunURL: runURL, Now: at(1)}

	for name, tc := range map[string]struct {
		setup   []params // after creation at at(0), before p
		p       params   // at at(10)
		changed bool
		want    func(b store.Build) store.Build // from the build as it was before p
	}{
		"dispatch moves to in_progress and stamps DispatchedAt": {
			p:       params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Detail: "dispatched"},
			changed: true,
			want: func(b store.Build) store.Build {
				b.Status = lifecycle.StatusInProgress
				b.DispatchedAt, b.UpdatedAt, b.HeardAt = at(10), at(10), at(10)
				return b
			},
		},
		"run webhook fills run and keeps DispatchedAt": {
			setup: []params{dispatch},
			p:     params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Progress: "compile", RunID: 42, RunURL: runURL},
			want: func(b store.Build) store.Build {
				b.Progress, b.RunID, b.RunURL = "compile", 42, runURL
				b.UpdatedAt, b.HeardAt = at(10), at(10)
				return b
			},
		},
		"success finishes and records the package": {
			setup:   []params{running},
			p:       params{To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, DownloadURL: "https://example.com/p.deb", Digest: "sha256:abc"},
			changed: true,
			want: func(b store.Build) store.Build {
				b.Status, b.DownloadURL, b.Digest = lifecycle.StatusDone, "https://example.com/p.deb", "sha256:abc"
				b.FinishedAt, b.UpdatedAt, b.HeardAt = at(10), at(10), at(10)
				return b
			},
		},
		"failed dispatch ends a queued build without DispatchedAt": {
			p:       params{To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed, Source: lifecycle.SourceAPI, Detail: "422"},
			changed: true,
			want: func(b store.Build) store.Build {
				b.Status, b.Reason = lifecycle.StatusError, lifecycle.ReasonDispatchFailed
				b.FinishedAt, b.UpdatedAt, b.HeardAt = at(10), at(10), at(10)
				return b
			},
		},
		"sweeper times out a running build": {
			setup:   []params{running},
			p:       params{To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Source: lifecycle.SourceSweeper},
			changed: true,
			want: func(b store.Build) store.Build {
				b.Status, b.Reason = lifecycle.StatusError, lifecycle.ReasonTimedOut
				b.FinishedAt, b.UpdatedAt, b.HeardAt = at(10), at(10), at(10)
				return b
			},
		},
		"same status records progress and HeardAt only": {
			setup: []params{running},
			p:     params{To: lifecycle.StatusInProgress, Source: lifecycle.SourcePoller, Progress: "package"},
			want: func(b store.Build) store.Build {
				b.Progress = "package"
				b.UpdatedAt, b.HeardAt = at(10), at(10)
				return b
			},
		},
		"queued build heard again": {
			p: params{To: lifecycle.StatusQueued, Source: lifecycle.SourcePoller},
			want: func(b store.Build) store.Build {
				b.UpdatedAt, b.HeardAt = at(10), at(10)
				return b
			},
		},
		"backward event changes nothing": {
			setup: []params{running},
			p:     params{To: lifecycle.StatusQueued, Source: lifecycle.SourceWebhook, Progress: "late", RunID: 43, RunURL: "other"},
			want:  func(b store.Build) store.Build { return b },
		},
		"backward event fills an unknown run": {
			setup: []params{dispatch},
			p:     params{To: lifecycle.StatusQueued, Source: lifecycle.SourceWebhook, Progress: "late", RunID: 42, RunURL: runURL},
			want: func(b store.Build) store.Build {
				b.RunID, b.RunURL, b.UpdatedAt = 42, runURL, at(10)
				return b
			},
		},
		"terminal status is never left": {
			setup: []params{running, {To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at(2)}},
			p:     params{To: lifecycle.StatusError, Reason: lifecycle.ReasonBuildFailed, Source: lifecycle.SourcePoller},
			want:  func(b store.Build) store.Build { return b },
		},
		"terminal status repeated changes nothing": {
			setup: []params{running, {To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, DownloadURL: "first", Now: at(2)}},
			p:     params{To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Progress: "again", DownloadURL: "second"},
			want:  func(b store.Build) store.Build { return b },
		},
		"another run's news changes nothing": {
			setup: []params{running},
			p:     params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Progress: "compile", RunID: 43, RunURL: "other"},
			want:  func(b store.Build) store.Build { return b },
		},
		"another run's end does not end the build": {
			setup: []params{running},
			p:     params{To: lifecycle.StatusError, Reason: lifecycle.ReasonBuildFailed, Source: lifecycle.SourceWebhook, RunID: 43},
			want:  func(b store.Build) store.Build { return b },
		},
		"precondition met: the build moves": {
			p:       params{From: lifecycle.StatusQueued, To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed, Source: lifecycle.SourceAPI},
			changed: true,
			want: func(b store.Build) store.Build {
				b.Status, b.Reason = lifecycle.StatusError, lifecycle.ReasonDispatchFailed
				b.FinishedAt, b.UpdatedAt, b.HeardAt = at(10), at(10), at(10)
				return b
			},
		},
		"precondition failed: a build that moved meanwhile is left alone": {
			setup: []params{running},
			p:     params{From: lifecycle.StatusQueued, To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed, Source: lifecycle.SourceAPI, RunID: 43, RunURL: "other"},
			want:  func(b store.Build) store.Build { return b },
		},
		"late event fills the run of a finished build": {
			setup: []params{{To: lifecycle.StatusError, Reason: lifecycle.ReasonCancelled, Source: lifecycle.SourceWebhook, Now: at(2)}},
			p:     params{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Progress: "late", RunID: 42, RunURL: runURL},
			want: func(b store.Build) store.Build {
				b.RunID, b.RunURL, b.UpdatedAt = 42, runURL, at(10)
				return b
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			b := buildThrough(t, s, at(0), tc.setup...)
			before := events(t, s, b.ID)

			p := tc.p
			p.ID, p.Now = b.ID, at(10)
			got, changed, err := s.BuildTransition(ctx, p)
			require.NoError(t, err)
			require.Equal(t, tc.want(b), got)
			require.Equal(t, tc.changed, changed)
			stored, err := s.BuildByID(ctx, b.ID)
			require.NoError(t, err)
			require.Equal(t, got, stored)

			want := before
			if tc.changed {
				want = append(want, store.Event{BuildID: b.ID, From: b.Status, To: p.To, Reason: p.Reason, Source: p.Source, Detail: p.Detail, CreatedAt: at(10)})
			}
			require.Equal(t, want, events(t, s, b.ID))
		})
	}
}

// testBuildTransitionConcurrent sends racing webhooks about one build: each
// must decide on what the one before it wrote, so the events form one
// forward chain and each reported change is one event.
func testBuildTransitionConcurrent(t *testing.T, s store.Store) {
	const n = 32
	b := mustCreate(t, s, createParams(at(0)))
	var (
		wg      sync.WaitGroup
		changes [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			to := lifecycle.StatusInProgress
			if i%4 == 3 {
				to = lifecycle.StatusDone
			}
			p := lifecycle.Transition{ID: b.ID, To: to, Source: lifecycle.SourceWebhook, Now: at(i + 1)}
			_, changes[i], errs[i] = s.BuildTransition(t.Context(), p)
		})
	}
	wg.Wait()

	changed := 0
	for i := range n {
		require.NoError(t, errs[i])
		if changes[i] {
			changed++
		}
	}
	es := events(t, s, b.ID)
	require.Len(t, es, changed+1, "one event per change")
	for i := 1; i < len(es); i++ {
		require.Equal(t, es[i-1].To, es[i].From, "event %d continues the chain", i)
		require.True(t, es[i].From.Advances(es[i].To))
	}
	got, err := s.BuildByID(t.Context(), b.ID)
	require.NoError(t, err)
	require.Equal(t, lifecycle.StatusDone, got.Status)
	require.Equal(t, es[len(es)-1].To, got.Status)
}

func testBuildEvents(t *testing.T, s store.Store) {
	p := createParams(at(0))
	mustCreate(t, s, p)
	for _, step := range []lifecycle.Transition{
		{To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Detail: "dispatched", Now: at(1)},
		{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Detail: "run 42 in_progress", Progress: "compile", Now: at(2)},
		{To: lifecycle.StatusQueued, Source: lifecycle.SourceWebhook, Detail: "run 42 requested", Now: at(3)},
		{To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Source: lifecycle.SourceSweeper, Detail: "15m without completion", Now: at(4)},
		{To: lifecycle.StatusDone, Source: lifecycle.SourcePoller, Detail: "run 42 completed: success", Now: at(5)},
	} {
		step.ID = p.ID
		mustTransition(t, s, step)
	}
	require.Equal(t, []store.Event{
		creationEvent(p),
		{BuildID: p.ID, From: lifecycle.StatusQueued, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Detail: "dispatched", CreatedAt: at(1)},
		{BuildID: p.ID, From: lifecycle.StatusInProgress, To: lifecycle.StatusError, Reason: lifecycle.ReasonTimedOut, Source: lifecycle.SourceSweeper, Detail: "15m without completion", CreatedAt: at(4)},
	}, events(t, s, p.ID))

	es, err := s.BuildEvents(t.Context(), "no-such-build")
	require.NoError(t, err)
	require.Empty(t, es)
}

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := createParams(odd)
	b := mustCreate(t, s, p)
	require.Equal(t, oddNormalized, b.CreatedAt)
	require.Equal(t, oddNormalized, b.HeardAt)

	b = mustTransition(t, s, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: odd.Add(time.Nanosecond)})
	require.Equal(t, oddNormalized, b.FinishedAt, "a nanosecond is below the precision kept")
	got, err := s.BuildByID(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, b, got)
	es := events(t, s, p.ID)
	require.Equal(t, oddNormalized, es[len(es)-1].CreatedAt)
}

func testNotFound(t *testing.T, s store.Store) {
	for name, call := range map[string]func(ctx context.Context) error{
		"BuildByID": func(ctx context.Context) error {
			_, err := s.BuildByID(ctx, newID())
			return err
		},
		"BuildByRunID": func(ctx context.Context) error {
			_, err := s.BuildByRunID(ctx, -1)
			return err
		},
		"BuildLatestByKey": func(ctx context.Context) error {
			_, err := s.BuildLatestByKey(ctx, newID())
			return err
		},
		"BuildTransition": func(ctx context.Context) error {
			_, _, err := s.BuildTransition(ctx, lifecycle.Transition{ID: newID(), To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at(0)})
			return err
		},
		"ReleaseByTag": func(ctx context.Context) error {
			_, err := s.ReleaseByTag(ctx, newID())
			return err
		},
		"AssetByName": func(ctx context.Context) error {
			_, err := s.AssetByName(ctx, newID(), "p.deb")
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, call(t.Context()), store.ErrNotFound)
		})
	}
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID()
	seen, err := s.DeliverySeen(ctx, id)
	require.NoError(t, err)
	require.False(t, seen)
	isNew, err := s.DeliveryRecord(ctx, id, "workflow_run", "completed", odd)
	require.NoError(t, err)
	require.True(t, isNew)
	seen, err = s.DeliverySeen(ctx, id)
	require.NoError(t, err)
	require.True(t, seen)
	isNew, err = s.DeliveryRecord(ctx, id, "workflow_run", "completed", odd)
	require.NoError(t, err)
	require.False(t, isNew, "a redelivery")
	isNew, err = s.DeliveryRecord(ctx, newID(), "workflow_run", "completed", odd)
	require.NoError(t, err)
	require.True(t, isNew)
}

func testReleases(t *testing.T, s store.Store) {
	ctx := t.Context()
	tag := "v0.1.2-" + newID()
	r := store.Release{Tag: tag, ReleaseID: 7, ETag: `W/"a"`, RefreshedAt: odd}
	require.NoError(t, s.ReleaseUpsert(ctx, r))
	got, err := s.ReleaseByTag(ctx, tag)
	require.NoError(t, err)
	r.RefreshedAt = oddNormalized
	require.Equal(t, r, got)

	r = store.Release{Tag: tag, ReleaseID: 8, ETag: `W/"b"`}
	require.NoError(t, s.ReleaseUpsert(ctx, r))
	got, err = s.ReleaseByTag(ctx, tag)
	require.NoError(t, err)
	require.Equal(t, r, got, "never refreshed is the zero time")
}

func testAssets(t *testing.T, s store.Store) {
	ctx := t.Context()
	tag, otherTag := "v0.1.2-"+newID(), "v0.1.3-"+newID()
	asset := func(name string, id int64) store.Asset {
		return store.Asset{
			Tag:           tag,
			Name:          name,
			AssetID:       id,
			DownloadURL:   "https://github.com/riptides/driver/releases/download/" + tag + "/" + name,
			Size:          1 << 20,
			Digest:        "sha256:0123",
			DistroVersion: "24.04",
			UpdatedAt:     at(int(id)),
		}
	}
	requireAssets := func(tag string, want ...store.Asset) {
		t.Helper()
		for _, a := range want {
			got, err := s.AssetByName(ctx, tag, a.Name)
			require.NoError(t, err, a.Name)
			require.Equal(t, a, got)
		}
	}
	requireGone := func(tag string, names ...string) {
		t.Helper()
		for _, name := range names {
			_, err := s.AssetByName(ctx, tag, name)
			require.ErrorIs(t, err, store.ErrNotFound, name)
		}
	}

	replace := func(tag string, assets []store.Asset, listedAt time.Time, msg ...any) (kept bool) {
		t.Helper()
		kept, err := s.AssetsReplace(ctx, tag, assets, listedAt)
		require.NoError(t, err, msg...)
		return kept
	}
	a, b, c := asset("a.deb", 1), asset("b.deb", 2), asset("c.rpm", 3)
	require.False(t, replace(tag, []store.Asset{a, b}, at(100)))
	otherA := a
	otherA.Tag = otherTag
	replace(otherTag, []store.Asset{a}, at(100), "stored under the tag given")
	requireAssets(tag, a, b)
	requireAssets(otherTag, otherA)

	b.Size, b.Digest, b.UpdatedAt = 2<<20, "sha256:4567", odd
	require.False(t, replace(tag, []store.Asset{b, c}, at(100)), "a, stored before the listing, went")
	b.UpdatedAt = oddNormalized
	requireAssets(tag, b, c)
	requireGone(tag, a.Name)
	requireAssets(otherTag, otherA)

	d := asset("d.deb", 4)
	require.NoError(t, s.AssetUpsert(ctx, d))
	requireAssets(tag, d)
	listed, err := s.AssetsOfTag(ctx, tag)
	require.NoError(t, err)
	require.Equal(t, []store.Asset{b, c, d}, listed, "a release's assets, by name")
	d.AssetID, d.DistroVersion = 5, "22.04"
	require.NoError(t, s.AssetUpsert(ctx, d))
	requireAssets(tag, b, c, d)

	require.NoError(t, s.AssetDelete(ctx, tag, d.Name))
	requireGone(tag, d.Name)
	require.NoError(t, s.AssetDelete(ctx, tag, d.Name), "deleting twice")

	// A listing read before an asset was stored does not drop it: the
	// asset was uploaded after the listing was read.
	e := asset("e.deb", 6)
	require.NoError(t, s.AssetUpsert(ctx, e))
	require.True(t, replace(tag, []store.Asset{c}, e.UpdatedAt), "e was kept")
	requireAssets(tag, c, e)
	requireGone(tag, b.Name)
	require.False(t, replace(tag, []store.Asset{c}, e.UpdatedAt.Add(time.Microsecond)))
	requireGone(tag, e.Name)

	require.False(t, replace(tag, nil, at(100)))
	requireGone(tag, b.Name, c.Name)
	requireAssets(otherTag, otherA)
}

func testReleaseDelete(t *testing.T, s store.Store) {
	asset := func(tag, name string) store.Asset {
		return store.Asset{Tag: tag, Name: name, AssetID: 1, DownloadURL: "https://example.com/" + name, Size: 1, UpdatedAt: at(0)}
	}
	for name, tc := range map[string]struct {
		release bool     // whether the release is stored
		assets  []string // the names of its stored assets
		times   int      // how often it is deleted
	}{
		"a release and its assets":         {release: true, assets: []string{"a.deb", "b.rpm"}, times: 1},
		"a release without assets":         {release: true, times: 1},
		"assets of a release never stored": {assets: []string{"a.deb"}, times: 1},
		"a release not there":              {times: 1},
		"a release deleted twice":          {release: true, assets: []string{"a.deb"}, times: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tag, otherTag := "v0.1.2-"+newID(), "v0.1.3-"+newID()
			other := store.Release{Tag: otherTag, ReleaseID: 2}
			require.NoError(t, s.ReleaseUpsert(ctx, other))
			require.NoError(t, s.AssetUpsert(ctx, asset(otherTag, "a.deb")))
			if tc.release {
				require.NoError(t, s.ReleaseUpsert(ctx, store.Release{Tag: tag, ReleaseID: 1}))
			}
			for _, name := range tc.assets {
				require.NoError(t, s.AssetUpsert(ctx, asset(tag, name)))
			}

			for range tc.times {
				require.NoError(t, s.ReleaseDelete(ctx, tag))
			}
			_, err := s.ReleaseByTag(ctx, tag)
			require.ErrorIs(t, err, store.ErrNotFound)
			for _, name := range tc.assets {
				_, err := s.AssetByName(ctx, tag, name)
				require.ErrorIs(t, err, store.ErrNotFound, name)
			}

			got, err := s.ReleaseByTag(ctx, otherTag)
			require.NoError(t, err, "another release stays")
			require.Equal(t, other, got)
			_, err = s.AssetByName(ctx, otherTag, "a.deb")
			require.NoError(t, err, "and so do its assets")
		})
	}
}

func testReleaseTags(t *testing.T, open func(testing.TB) store.Store) {
	for name, tc := range map[string]struct {
		upsert []string // releases stored, in this order
		assets []string // tags that get an asset but no release
		delete []string
		want   []string
	}{
		"none": {},
		"in byte order, whatever the collation": {
			upsert: []string{"v0.2.0", "v0.10.0", "v0.1.2_b", "v0.1.2-rc1", "V1", "v0.1.2"},
			want:   []string{"V1", "v0.1.2", "v0.1.2-rc1", "v0.1.2_b", "v0.10.0", "v0.2.0"},
		},
		"a release stored twice is listed once": {
			upsert: []string{"v0.1.2", "v0.1.2"},
			want:   []string{"v0.1.2"},
		},
		"assets alone make no release": {
			upsert: []string{"v0.1.2"},
			assets: []string{"v0.1.3"},
			want:   []string{"v0.1.2"},
		},
		"a deleted release is not listed": {
			upsert: []string{"v0.1.2", "v0.1.3"},
			delete: []string{"v0.1.2"},
			want:   []string{"v0.1.3"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := t.Context()
			for i, tag := range tc.upsert {
				require.NoError(t, s.ReleaseUpsert(ctx, store.Release{Tag: tag, ReleaseID: int64(i + 1)}))
			}
			for _, tag := range tc.assets {
				require.NoError(t, s.AssetUpsert(ctx, store.Asset{Tag: tag, Name: "a.deb", AssetID: 1, UpdatedAt: at(0)}))
			}
			for _, tag := range tc.delete {
				require.NoError(t, s.ReleaseDelete(ctx, tag))
			}
			got, err := s.ReleaseTags(ctx)
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func testPing(t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(t.Context()))
}

// buildThrough creates a build at the time and applies the steps to it.
func buildThrough(t *testing.T, s store.Store, created time.Time, steps ...lifecycle.Transition) store.Build {
	t.Helper()
	b := mustCreate(t, s, createParams(created))
	for _, step := range steps {
		step.ID = b.ID
		b = mustTransition(t, s, step)
	}
	return b
}

func testBuildsStale(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	build := func(createdAt int, steps ...lifecycle.Transition) store.Build {
		return buildThrough(t, s, at(createdAt), steps...)
	}
	heard := func(sec int) lifecycle.Transition {
		return lifecycle.Transition{To: lifecycle.StatusInProgress, Source: lifecycle.SourceWebhook, Now: at(sec)}
	}
	// Every build is created at 0 unless it says otherwise; HeardAt, not
	// creation, is what counts.
	var (
		late         = build(0, heard(1), heard(20))
		second       = build(0, heard(5))
		first        = build(0, heard(3))
		queued       = build(2) // a dispatch before a crash may have reached GitHub
		queuedHeard  = build(0, lifecycle.Transition{To: lifecycle.StatusQueued, Source: lifecycle.SourcePoller, Now: at(4)})
		queuedRecent = build(12)
	)
	build(0, heard(1), lifecycle.Transition{To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at(2)})
	build(0, lifecycle.Transition{To: lifecycle.StatusError, Reason: lifecycle.ReasonDispatchFailed, Source: lifecycle.SourceAPI, Now: at(1)})

	for name, tc := range map[string]struct {
		heardBefore int
		status      lifecycle.Status
		limit       int
		want        []store.Build
	}{
		"active builds heard before the time, oldest first": {
			heardBefore: 10, limit: 10,
			want: []store.Build{queued, first, queuedHeard, second},
		},
		"the limit keeps the oldest": {
			heardBefore: 10, limit: 2,
			want: []store.Build{queued, first},
		},
		"heard exactly at the bound is not stale": {
			heardBefore: 2, limit: 10,
		},
		"queued only": {
			heardBefore: 10, status: lifecycle.StatusQueued, limit: 10,
			want: []store.Build{queued, queuedHeard},
		},
		"in progress only": {
			heardBefore: 10, status: lifecycle.StatusInProgress, limit: 1,
			want: []store.Build{first},
		},
		"a build heard again is stale only later": {
			heardBefore: 21, limit: 10,
			want: []store.Build{queued, first, queuedHeard, second, queuedRecent, late},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := s.BuildsStale(t.Context(), store.BuildsStaleParams{HeardBefore: at(tc.heardBefore), Status: tc.status, Limit: tc.limit})
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func testBuildsOverdue(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	build := func(createdAt int, steps ...lifecycle.Transition) store.Build {
		return buildThrough(t, s, at(createdAt), steps...)
	}
	dispatched := func(sec int) lifecycle.Transition {
		return lifecycle.Transition{To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Now: at(sec)}
	}
	neverDispatched := build(0)
	createdEarlyDispatchedLate := build(-100, dispatched(2))
	queuedLater := build(1)
	build(0, dispatched(20))
	build(0, dispatched(1), lifecycle.Transition{To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at(2)})
	build(11)

	got, err := s.BuildsOverdue(ctx, at(10), 10)
	require.NoError(t, err)
	require.Equal(t, []store.Build{neverDispatched, queuedLater, createdEarlyDispatchedLate}, got,
		"by dispatch time, or creation time when never dispatched")
	got, err = s.BuildsOverdue(ctx, at(10), 2)
	require.NoError(t, err)
	require.Equal(t, []store.Build{neverDispatched, queuedLater}, got)
}

func testRequestsRecent(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	got, err := s.RequestsRecent(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, got)

	request := func(receivedAt time.Time, outcome string) store.Request {
		return store.Request{
			ReceivedAt:    receivedAt,
			KernelVersion: "6.8.0-1021-gcp",
			Architecture:  "amd64",
			Distribution:  "ubuntu",
			DistroVersion: "24.04",
			DriverVersion: "v0.1.2",
			Outcome:       outcome,
			HTTPStatus:    202,
			BuildID:       newID(),
		}
	}
	// Recorded out of order: the log is ordered by when they arrived.
	invalid := request(odd, "invalid")
	invalid.HTTPStatus, invalid.BuildID, invalid.Error = 400, "", "kernel_version: want a kernel release such as 6.8.0-1021-gcp"
	dispatched, deduplicated := request(at(1), "dispatched"), request(at(3), "deduplicated")
	for _, r := range []store.Request{dispatched, deduplicated, invalid} {
		require.NoError(t, s.RequestRecord(ctx, r))
	}
	invalid.ReceivedAt = oddNormalized

	got, err = s.RequestsRecent(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []store.Request{deduplicated, dispatched}, got)
	got, err = s.RequestsRecent(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []store.Request{deduplicated, dispatched, invalid}, got)

	// Many at once, past one INSERT's rows, as the audit log writes them.
	var many []store.Request
	for i := range 450 {
		many = append(many, request(at(100+i), "cached"))
	}
	require.NoError(t, s.RequestsRecord(ctx, many))
	got, err = s.RequestsRecent(ctx, 1000)
	require.NoError(t, err)
	require.Len(t, got, 453)
	require.Equal(t, many[449], got[0])
	require.Equal(t, many[0], got[449])
	require.NoError(t, s.RequestsRecord(ctx, nil))
}

type noopArgs struct {
	Marker string `json:"marker"`
}

func (noopArgs) Kind() string { return "storetest_noop" }

// insertOnly is the River configuration of a client that only inserts.
func insertOnly() *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[noopArgs]) error { return nil }))
	return &river.Config{Workers: workers}
}

// jobMarkers lists the markers of the noop jobs in the database.
func jobMarkers(t *testing.T, jobs store.Jobs) []string {
	t.Helper()
	lister, ok := jobs.(interface {
		JobList(context.Context, *river.JobListParams) (*river.JobListResult, error)
	})
	require.True(t, ok, "Jobs is a River client")
	res, err := lister.JobList(t.Context(), river.NewJobListParams().Kinds(noopArgs{}.Kind()).First(100))
	require.NoError(t, err)
	var markers []string
	for _, j := range res.Jobs {
		var args noopArgs
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &args))
		markers = append(markers, args.Marker)
	}
	return markers
}

func testJobs(t *testing.T, open func(testing.TB) store.Store) {
	errRollback := errors.New("roll back")
	t.Run("InTx commits rows and jobs together", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		jobs, err := s.NewJobs(insertOnly())
		require.NoError(t, err)
		p := createParams(at(0))
		err = s.InTx(ctx, func(tx store.Tx) error {
			mustCreate(t, tx, p)
			return tx.InsertJob(ctx, noopArgs{Marker: p.ID}, nil)
		})
		require.NoError(t, err)
		_, err = s.BuildByID(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, []string{p.ID}, jobMarkers(t, jobs))
	})
	t.Run("InTx rolls back rows and jobs together", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		jobs, err := s.NewJobs(insertOnly())
		require.NoError(t, err)
		p := createParams(at(0))
		err = s.InTx(ctx, func(tx store.Tx) error {
			mustCreate(t, tx, p)
			_, err := tx.DeliveryRecord(ctx, p.ID, "workflow_run", "requested", at(0))
			require.NoError(t, err)
			require.NoError(t, tx.InsertJob(ctx, noopArgs{Marker: p.ID}, nil))
			return errRollback
		})
		require.ErrorIs(t, err, errRollback)
		_, err = s.BuildByID(ctx, p.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		isNew, err := s.DeliveryRecord(ctx, p.ID, "workflow_run", "requested", at(0))
		require.NoError(t, err)
		require.True(t, isNew)
		require.Empty(t, jobMarkers(t, jobs))
	})
	t.Run("NewJobs again replaces the client", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		insert := func(marker string) error {
			return s.InTx(ctx, func(tx store.Tx) error { return tx.InsertJob(ctx, noopArgs{Marker: marker}, nil) })
		}
		jobs, err := s.NewJobs(insertOnly())
		require.NoError(t, err)
		require.NoError(t, insert("first"))
		require.Equal(t, []string{"first"}, jobMarkers(t, jobs))

		again, err := s.NewJobs(insertOnly())
		require.NoError(t, err, "a restarted service makes a new client")
		require.NoError(t, insert("after"))
		require.ElementsMatch(t, []string{"first", "after"}, jobMarkers(t, again))
	})
	t.Run("InsertJob before NewJobs", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		err := s.InTx(ctx, func(tx store.Tx) error { return tx.InsertJob(ctx, noopArgs{}, nil) })
		require.ErrorIs(t, err, store.ErrNoJobs)
	})
}
