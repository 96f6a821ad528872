package builds_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// failingEnd is the real store, but one build cannot be written.
type failingEnd struct {
	store.Store
	id string
}

func (s failingEnd) BuildTransition(ctx context.Context, p lifecycle.Transition) (store.Build, bool, error) {
	if p.ID == s.id {
		return store.Build{}, false, errors.New("disk full")
	}
	return s.Store.BuildTransition(ctx, p)
}

// One overdue build that cannot be ended does not keep the sweeper from
// the overdue builds behind it.
func TestSweepGoesOnPastABuildItCannotEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.SQLite(t)
	now := time.Now().UTC()
	var ids []string
	for i, release := range []string{"6.8.0-1053-gcp", "6.8.0-1054-gcp"} {
		req := kernel.Request{KernelVersion: release, Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
		b, created, err := st.BuildCreate(ctx, store.BuildCreateParams{ID: uuid.NewString(), CacheKey: req.CacheKey(), Request: req,
			Package: release + ".deb", Now: now.Add(-time.Hour + time.Duration(i)*time.Second)})
		require.NoError(t, err)
		require.True(t, created)
		ids = append(ids, b.ID)
	}
	svc := builds.New(builds.Config{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), Workflow: "driver-build.yml",
		Timeout: 15 * time.Minute, Now: func() time.Time { return now }}, failingEnd{Store: st, id: ids[0]}, nil)

	swept, err := svc.Sweep(ctx)
	require.ErrorContains(t, err, ids[0])
	require.Equal(t, 1, swept)
	b, err := st.BuildByID(ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, lifecycle.StatusError, b.Status)
	require.Equal(t, lifecycle.ReasonTimedOut, b.Reason)
}
