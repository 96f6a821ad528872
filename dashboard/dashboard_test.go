package dashboard_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/dashboard"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// history writes a build of the distribution created at start that lasts
// took (and is then done or failed), or runs at progress when took is 0.
func history(t *testing.T, st store.Store, distribution, kernelVersion string, start time.Time, took time.Duration, to lifecycle.Status, progress string) store.Build {
	t.Helper()
	id := fmt.Sprintf("%08d-0000-0000-0000-000000000000", start.Unix()%1e8)
	b, created, err := st.BuildCreate(t.Context(), store.BuildCreateParams{
		ID: id, CacheKey: id, Package: "pkg-" + id, Now: start,
		Request: kernel.Request{KernelVersion: kernelVersion, Architecture: "x86_64", Distribution: distribution,
			DistroVersion: "1", DriverVersion: "v0.1.2"},
	})
	require.NoError(t, err)
	require.True(t, created)
	b, _, err = st.BuildTransition(t.Context(), lifecycle.Transition{ID: id, To: lifecycle.StatusInProgress,
		RunID: start.Unix(), Progress: progress, Source: lifecycle.SourceWebhook, Now: start.Add(time.Second)})
	require.NoError(t, err)
	if to.Terminal() {
		tr := lifecycle.Transition{ID: id, To: to, Source: lifecycle.SourceWebhook, Now: start.Add(took)}
		if to == lifecycle.StatusError {
			tr.Reason = lifecycle.ReasonBuildFailed
		}
		b, _, err = st.BuildTransition(t.Context(), tr)
		require.NoError(t, err)
	}
	return b
}

func TestRead(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	ctx := t.Context()

	v, err := dashboard.Read(ctx, st, t0, false)
	require.NoError(t, err)
	require.Empty(t, v.InFlight)
	require.Empty(t, v.Recent)
	require.Equal(t, 7, v.WindowDays)

	// Ubuntu builds took 100, 300 and 200 s: the median is 200. One failed
	// after 10 s, which says nothing of how long a build takes.
	history(t, st, "ubuntu", "6.8.0-1", t0.Add(-time.Hour), 100*time.Second, lifecycle.StatusDone, "")
	history(t, st, "ubuntu", "6.8.0-2", t0.Add(-50*time.Minute), 300*time.Second, lifecycle.StatusDone, "")
	history(t, st, "ubuntu", "6.8.0-3", t0.Add(-40*time.Minute), 200*time.Second, lifecycle.StatusDone, "")
	failed := history(t, st, "ubuntu", "6.8.0-4", t0.Add(-30*time.Minute), 10*time.Second, lifecycle.StatusError, "")
	// Two fedora builds, 60 and 80 s: the median of an even count is
	// between them.
	history(t, st, "fedora", "6.11.0-1.fc42", t0.Add(-20*time.Minute), 60*time.Second, lifecycle.StatusDone, "")
	history(t, st, "fedora", "6.11.0-2.fc42", t0.Add(-19*time.Minute), 80*time.Second, lifecycle.StatusDone, "")

	ubuntu := history(t, st, "ubuntu", "6.8.0-5", t0.Add(-50*time.Second), 0, lifecycle.StatusInProgress, "build: Build driver")
	fedora := history(t, st, "fedora", "6.11.0-3.fc42", t0.Add(-100*time.Second), 0, lifecycle.StatusInProgress, "package confirmed")
	debian := history(t, st, "debian", "6.1.0-28-amd64", t0.Add(-10*time.Second), 0, lifecycle.StatusInProgress, "")

	v, err = dashboard.Read(ctx, st, t0, false)
	require.NoError(t, err)
	require.Len(t, v.InFlight, 3)
	byID := map[string]dashboard.InFlight{}
	for _, f := range v.InFlight {
		byID[f.ID] = f
	}
	require.Equal(t, []string{fedora.ID, ubuntu.ID, debian.ID}, []string{v.InFlight[0].ID, v.InFlight[1].ID, v.InFlight[2].ID},
		"oldest first")

	u := byID[ubuntu.ID]
	require.Equal(t, "build", u.Job)
	require.Equal(t, "Build driver", u.Step)
	require.Equal(t, 50.0, u.ElapsedSeconds)
	require.Equal(t, t0.Add(-49*time.Second), u.StepAt, "when the step was reported")
	require.Equal(t, &dashboard.Estimate{TypicalSeconds: 200, RemainingSeconds: 150, From: 3}, u.Estimate)
	require.Equal(t, "/api/builds/"+ubuntu.ID+"/events", u.EventsURL)

	f := byID[fedora.ID]
	require.Equal(t, "", f.Job, "a progress that names no job")
	require.Equal(t, "package confirmed", f.Step)
	require.Equal(t, &dashboard.Estimate{TypicalSeconds: 70, RemainingSeconds: 0, From: 2}, f.Estimate,
		"a build past the typical duration has nothing left to estimate")

	require.Nil(t, byID[debian.ID].Estimate, "no debian build is done")

	require.Len(t, v.Recent, 6)
	require.Equal(t, "6.11.0-2.fc42", v.Recent[0].KernelVersion, "the last to end first")
	last := v.Recent[2]
	require.Equal(t, failed.ID, last.ID)
	require.Equal(t, "error", last.Status)
	require.Equal(t, "build_failed", last.Reason)
	require.Equal(t, 10.0, last.DurationSeconds)

	require.Equal(t, []dashboard.Failure{{Reason: "build_failed", Distribution: "ubuntu", Builds: 1}}, v.Failures)
	v, err = dashboard.Read(ctx, st, t0.Add(dashboard.Window), false)
	require.NoError(t, err)
	require.Empty(t, v.Failures, "a failure older than the window")
}

func TestFleet(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	askAs := func(arch, distribution, kernelVersion string, times int, at time.Time) {
		for range times {
			require.NoError(t, st.RequestRecord(t.Context(), store.Request{ReceivedAt: at, KernelVersion: kernelVersion,
				Architecture: arch, Distribution: distribution, DistroVersion: "1", DriverVersion: "v0.1.2",
				Outcome: "cached", HTTPStatus: 200}))
		}
	}
	ask := func(distribution, kernelVersion string, times int) {
		askAs("x86_64", distribution, kernelVersion, times, t0)
	}
	// One kernel, its architecture spelled two ways.
	ask("debian", "6.1.0-28-amd64", 1)
	askAs("amd64", "debian", "6.1.0-28-amd64", 2, t0.Add(time.Minute))
	for i := range 14 {
		ask("ubuntu", fmt.Sprintf("6.8.0-%d-gcp", 1000+i), 1+i%2)
	}
	v, err := dashboard.Read(t.Context(), st, t0.Add(time.Hour), false)
	require.NoError(t, err)
	require.Len(t, v.Fleet, 2)
	u, d := v.Fleet[0], v.Fleet[1]
	require.Equal(t, "ubuntu", u.Name, "the distribution with the most requests first")
	require.Equal(t, 21, u.Requests)
	require.Len(t, u.Kernels, 12, "the chart shows at most a dozen kernels of a distribution")
	require.Equal(t, 2, u.More, "and counts the others")
	require.Equal(t, 2, u.Kernels[0].Requests)
	require.Equal(t, 1, u.Kernels[11].Requests)
	require.Equal(t, dashboard.Distribution{Name: "debian", Requests: 3, Kernels: []dashboard.Kernel{
		{KernelVersion: "6.1.0-28-amd64", DistroVersion: "1", Architecture: "x86_64", Requests: 3, LastSeen: t0.Add(time.Minute)},
	}}, d)
}

// TestReadReleases: each release and shard the index holds, with how many
// of GitHub's 1,000 assets it holds, in tag order.
func TestReadReleases(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	ctx := t.Context()
	v, err := dashboard.Read(ctx, st, t0, false)
	require.NoError(t, err)
	require.Empty(t, v.Releases)

	for tag, n := range map[string]int{"v0.2.0+shard.2": 3, "v0.1.2": 1} {
		require.NoError(t, st.ReleaseUpsert(ctx, store.Release{Tag: tag, ReleaseID: int64(len(tag))}))
		var assets []store.Asset
		for i := range n {
			assets = append(assets, store.Asset{Name: fmt.Sprintf("pkg-%d.deb", i), AssetID: int64(i + 1), UpdatedAt: t0})
		}
		_, err := st.AssetsReplace(ctx, tag, assets, t0)
		require.NoError(t, err)
	}
	v, err = dashboard.Read(ctx, st, t0, false)
	require.NoError(t, err)
	require.Equal(t, []dashboard.Release{
		{Tag: "v0.1.2", Assets: 1, Limit: kernel.ReleaseAssetLimit},
		{Tag: "v0.2.0+shard.2", Assets: 3, Limit: kernel.ReleaseAssetLimit},
	}, v.Releases)
}
