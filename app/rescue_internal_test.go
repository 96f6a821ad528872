package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// hangingDeliveries is a GitHub whose delivery listing never answers, as
// one that is down answers nothing; a dispatch goes through.
type hangingDeliveries struct {
	builds.GitHub // the calls a rescue does not make
	dispatches    atomic.Int32
}

func (g *hangingDeliveries) Deliveries(ctx context.Context, _ time.Time) ([]ghclient.Delivery, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (g *hangingDeliveries) FindRun(context.Context, time.Time, func(string) bool) (ghclient.Run, bool, error) {
	return ghclient.Run{}, false, nil
}

func (g *hangingDeliveries) Dispatch(context.Context, map[string]string) (ghclient.RunRef, error) {
	return ghclient.RunRef{ID: 100 + int64(g.dispatches.Add(1))}, nil
}

// The rescue of queued builds does not wait on the redelivery of what was
// missed while down: after a crash, GitHub answering slowly (or not) is
// when a build whose dispatch died needs its rescue.
func TestRescueDoesNotWaitOnRedelivery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.SQLite(t)
	gh := &hangingDeliveries{}
	svc := builds.New(builds.Config{Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), Workflow: "driver-build.yml",
		PollInterval: 600 * time.Millisecond, RetryDelay: 100 * time.Millisecond, Timeout: time.Hour}, st, gh)
	req := kernel.Request{KernelVersion: "6.8.0-1012-aws", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
	b, created, err := st.BuildCreate(ctx, store.BuildCreateParams{
		ID: uuid.Must(uuid.NewV7()).String(), CacheKey: req.CacheKey(), Request: req,
		Package: "riptides-driver-ubuntu-6.8.0-1012-aws_v0.1.2_amd64.deb", Now: time.Now().Add(-time.Minute),
	})
	require.NoError(t, err)
	require.True(t, created)

	rescueCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rescue(rescueCtx, svc, builds.Periods{Poll: time.Second, Redeliver: time.Minute})
	}()
	t.Cleanup(func() { stop(); <-done })

	require.Eventually(t, func() bool {
		got, err := st.BuildByID(ctx, b.ID)
		return err == nil && got.Status == lifecycle.StatusInProgress
	}, 5*time.Second, 50*time.Millisecond, "the queued build is rescued while the redelivery hangs")
	require.EqualValues(t, 1, gh.dispatches.Load())
}
