package builds

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

func TestBackgroundStopCancelsAndWaits(t *testing.T) {
	var b background
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	started := make(chan struct{})
	var ended atomic.Bool
	b.Go(parent, func(ctx context.Context) {
		assert.Equal(t, "v", ctx.Value(ctxKey{}), "the caller's values are kept")
		close(started)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // what it does after being told to stop is waited for too
		ended.Store(true)
	})
	<-started
	cancelParent() // the caller's end does not end the work
	time.Sleep(10 * time.Millisecond)
	require.False(t, ended.Load(), "background work ended with its caller's context")

	b.Stop()
	require.True(t, ended.Load(), "Stop returned before the work did")

	ran := false
	b.Go(context.Background(), func(context.Context) { ran = true })
	b.Stop()
	assert.False(t, ran, "work started after Stop ran")
}
