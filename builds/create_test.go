package builds_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// A request that missed the package just before the key's build ended done
// gets that build, even when the replica that ended it stamped the end a
// little earlier than this one read the index: replicas' clocks differ, and
// a build's end is stamped before it commits. Else the kernel is built twice.
func TestRequestAnsweredByABuildThatEndedAsItReadTheIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Now().UTC()
	env := newOnSim(t, builds.Config{Cooldown: time.Minute, Now: func() time.Time { return now }})
	svc, st := env.svc, env.st
	require.NoError(t, svc.RefreshAll(ctx))

	raw := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "amd64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.2.0"}
	req, err := kernel.DefaultCatalog().Normalize(raw)
	require.NoError(t, err)
	pkg, err := kernel.DefaultCatalog().PackageName(kernel.DefaultNaming(), req)
	require.NoError(t, err)
	// The build, ended by another replica whose clock is 50 ms behind, in
	// the moment between this request's read of the index (which the
	// package reached only as the build ended) and its read of the builds.
	b, created, err := st.BuildCreate(ctx, store.BuildCreateParams{ID: "01a21cf6-92a5-792f-96bb-2a01ef022348", CacheKey: req.CacheKey(),
		Request: req, Package: pkg, Now: now.Add(-time.Minute)})
	require.NoError(t, err)
	require.True(t, created)
	_, _, err = st.BuildTransition(ctx, lifecycle.Transition{ID: b.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, Now: now.Add(-time.Minute)})
	require.NoError(t, err)
	_, _, err = st.BuildTransition(ctx, lifecycle.Transition{ID: b.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook,
		DownloadURL: "https://example.com/" + pkg, Now: now.Add(-50 * time.Millisecond)})
	require.NoError(t, err)

	out, err := svc.Request(ctx, raw)
	require.NoError(t, err, "no second build of the kernel")
	require.Equal(t, builds.KindCached, out.Kind)
	require.Equal(t, "https://example.com/"+pkg, out.Asset.DownloadURL)
}
