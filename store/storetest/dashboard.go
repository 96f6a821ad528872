package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// testDashboard builds a small history and checks what each of the
// dashboard's reads makes of it.
func testDashboard(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	for _, read := range []func() (int, error){
		func() (int, error) { bs, err := s.BuildsActive(ctx, 10); return len(bs), err },
		func() (int, error) { bs, err := s.BuildsFinished(ctx, 10); return len(bs), err },
		func() (int, error) { fs, err := s.BuildFailures(ctx, base); return len(fs), err },
		func() (int, error) { ks, err := s.RequestKernels(ctx, base); return len(ks), err },
	} {
		n, err := read()
		require.NoError(t, err)
		require.Zero(t, n, "an empty store")
	}

	// build creates a build of the distribution at sec and moves it to the
	// statuses, a second apart.
	build := func(sec int, distribution string, to ...lifecycle.Transition) store.Build {
		p := createParams(at(sec))
		p.Distribution = distribution
		b := mustCreate(t, s, p)
		for i, tr := range to {
			tr.ID, tr.Source, tr.Now = b.ID, lifecycle.SourceWebhook, at(sec+i+1)
			b = mustTransition(t, s, tr)
		}
		return b
	}
	running := lifecycle.Transition{To: lifecycle.StatusInProgress, RunID: 1, Progress: "build: Build driver"}
	done := lifecycle.Transition{To: lifecycle.StatusDone}
	failed := func(r lifecycle.Reason) lifecycle.Transition {
		return lifecycle.Transition{To: lifecycle.StatusError, Reason: r}
	}
	ubuntuDone := build(10, "ubuntu", running, done)
	fedoraFailed := build(20, "fedora", running, failed(lifecycle.ReasonBuildFailed))
	ubuntuTimedOut := build(30, "ubuntu", running, failed(lifecycle.ReasonTimedOut))
	fedoraFailedAgain := build(40, "fedora", failed(lifecycle.ReasonBuildFailed))
	ubuntuDoneLater := build(50, "ubuntu", running, done)
	fedoraDone := build(60, "fedora", running, done)
	queuedLater := build(80, "debian")
	runningFirst := build(70, "ubuntu", running)

	active, err := s.BuildsActive(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{runningFirst.ID, queuedLater.ID}, ids(active), "oldest first")
	require.Equal(t, "build: Build driver", active[0].Progress)
	active, err = s.BuildsActive(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, []string{runningFirst.ID}, ids(active))

	finished, err := s.BuildsFinished(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{fedoraDone.ID, ubuntuDoneLater.ID, fedoraFailedAgain.ID, ubuntuTimedOut.ID, fedoraFailed.ID, ubuntuDone.ID},
		ids(finished), "newest first, and no active build")
	require.Equal(t, at(12), finished[len(finished)-1].FinishedAt)
	finished, err = s.BuildsFinished(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []string{fedoraDone.ID, ubuntuDoneLater.ID}, ids(finished))

	failures, err := s.BuildFailures(ctx, base)
	require.NoError(t, err)
	require.Equal(t, []store.FailureCount{
		{Reason: lifecycle.ReasonBuildFailed, Distribution: "fedora", Builds: 2},
		{Reason: lifecycle.ReasonTimedOut, Distribution: "ubuntu", Builds: 1},
	}, failures)
	failures, err = s.BuildFailures(ctx, at(25))
	require.NoError(t, err)
	require.Equal(t, []store.FailureCount{
		{Reason: lifecycle.ReasonBuildFailed, Distribution: "fedora", Builds: 1},
		{Reason: lifecycle.ReasonTimedOut, Distribution: "ubuntu", Builds: 1},
	}, failures, "since bounds when the builds were created")

	request := func(sec int, kernel, outcome string) {
		require.NoError(t, s.RequestRecord(ctx, store.Request{
			ReceivedAt: at(sec), KernelVersion: kernel, Architecture: "x86_64", Distribution: "ubuntu",
			DistroVersion: "24.04", DriverVersion: "v0.1.2", Outcome: outcome, HTTPStatus: 202,
		}))
	}
	request(1, "6.8.0-1021-gcp", "dispatched")
	request(2, "6.8.0-1021-gcp", "deduplicated")
	request(3, "6.8.0-1021-gcp", "cached")
	request(4, "6.14.0-1021-aws", "dispatched")
	request(5, "6.14.0-1021-aws", "invalid")
	request(6, "6.14.0-1021-aws", "invalid")
	request(7, "6.14.0-1021-aws", "cooldown")
	request(9, "6.8.0-1021-gcp", "cached")
	kernels, err := s.RequestKernels(ctx, base)
	require.NoError(t, err)
	ubuntu := func(kernel string, requests, lastSeen int) store.KernelCount {
		return store.KernelCount{Distribution: "ubuntu", DistroVersion: "24.04", KernelVersion: kernel,
			Architecture: "x86_64", Requests: requests, LastSeen: at(lastSeen)}
	}
	require.Equal(t, []store.KernelCount{ubuntu("6.8.0-1021-gcp", 4, 9), ubuntu("6.14.0-1021-aws", 2, 7)}, kernels,
		"invalid requests are no kernel anyone runs")
	kernels, err = s.RequestKernels(ctx, at(4))
	require.NoError(t, err)
	require.Equal(t, []store.KernelCount{ubuntu("6.14.0-1021-aws", 2, 7), ubuntu("6.8.0-1021-gcp", 1, 9)}, kernels)

	listings, err := s.ListingsOpen(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, listings)
	states := map[string]store.ListingState{
		ubuntuDone.ID: store.ListingPROpen, ubuntuDoneLater.ID: store.ListingMerged,
		fedoraDone.ID: store.ListingChecksFailed, runningFirst.ID: store.ListingAlreadyListed,
		fedoraFailed.ID: store.ListingPending,
	}
	for i, id := range []string{ubuntuDone.ID, ubuntuDoneLater.ID, fedoraDone.ID, runningFirst.ID, fedoraFailed.ID} {
		require.NoError(t, s.ListingPut(ctx, store.Listing{BuildID: id, Branch: "add-kernel/" + id, State: states[id],
			PRNumber: i + 1, PRURL: "https://github.com/o/r/pull/" + string(rune('1'+i)), CreatedAt: at(100 + i), UpdatedAt: at(100 + i)}))
	}
	listings, err = s.ListingsOpen(ctx, 10)
	require.NoError(t, err)
	var opened []string
	for _, l := range listings {
		opened = append(opened, l.BuildID)
	}
	require.Equal(t, []string{fedoraFailed.ID, fedoraDone.ID, ubuntuDone.ID}, opened, "open ones, newest first")
	require.Equal(t, store.Listing{BuildID: ubuntuDone.ID, Branch: "add-kernel/" + ubuntuDone.ID, State: store.ListingPROpen,
		PRNumber: 1, PRURL: "https://github.com/o/r/pull/1", CreatedAt: at(100), UpdatedAt: at(100)}, listings[2])
	listings, err = s.ListingsOpen(ctx, 1)
	require.NoError(t, err)
	require.Len(t, listings, 1)
}

func ids(bs []store.Build) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}
