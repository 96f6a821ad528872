package builds

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

func TestBackgroundStopCancelsAndWaits(t *testing.T) {
	t.Parallel()
	var b background
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	started := make(chan context.Context)
	var ended atomic.Bool
	b.Go(parent, func(ctx context.Context) {
		started <- ctx
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // what it does after being told to stop is waited for too
		ended.Store(true)
	})
	got := <-started
	require.Equal(t, "v", got.Value(ctxKey{}), "the caller's values are kept")
	cancelParent()
	require.NoError(t, got.Err(), "the caller's end does not end the work")

	b.Stop()
	require.True(t, ended.Load(), "Stop returned before the work did")

	ran := false
	b.Go(context.Background(), func(context.Context) { ran = true })
	b.Stop()
	require.False(t, ran, "work started after Stop ran")
}
