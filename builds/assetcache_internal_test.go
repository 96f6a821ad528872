package builds

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
)

// countingReader is a release v1 of one asset, counting its reads.
type countingReader struct {
	reads   atomic.Int64
	release chan struct{} // each read waits for it
	name    atomic.Value
}

func (r *countingReader) ReleaseTags(context.Context) ([]string, error) { return []string{"v1"}, nil }
func (r *countingReader) AssetsOfTag(context.Context, string) ([]store.Asset, error) {
	r.reads.Add(1)
	<-r.release
	return []store.Asset{{Tag: "v1", Name: r.name.Load().(string)}}, nil
}

// Many changes of one release while a reload runs cost one more read, not
// one each, and the copy ends with what the last read saw.
func TestAssetCacheCoalescesReloads(t *testing.T) {
	ctx := t.Context()
	var c assetCache
	r := &countingReader{release: make(chan struct{})}
	r.name.Store("old.deb")
	close(r.release)
	require.NoError(t, c.load(ctx, r, ""))
	require.EqualValues(t, 1, r.reads.Load())

	r.release = make(chan struct{})
	c.forget("v1")
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.load(ctx, r, "v1") }) // reads, and waits in its read
	require.Eventually(t, func() bool { return r.reads.Load() == 2 }, time.Second, time.Millisecond)
	r.name.Store("new.deb")
	c.forget("v1") // a change while it reads: its read is stale
	for range 10 {
		wg.Go(func() { _ = c.load(ctx, r, "v1") })
	}
	close(r.release)
	wg.Wait()
	assert.EqualValues(t, 3, r.reads.Load(), "one read for the ten loads queued behind the stale one")
	_, ok := c.get("v1", "new.deb")
	assert.True(t, ok, "the copy holds the newest read")
	_, ok = c.get("v1", "old.deb")
	assert.False(t, ok)
}
