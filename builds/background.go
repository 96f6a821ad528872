package builds

import (
	"context"
	"sync"
)

// background is the work a Service does beside a request or a job: a
// confirmation after a run's success, a reload of the asset index. Stop
// cancels it and waits, so nothing of a stopped service still runs, logs
// or touches the store.
type background struct {
	mu   sync.Mutex         // guards stop, and orders Go's check of it before Stop's Wait
	stop context.Context    // ends with Stop; made at first use
	end  context.CancelFunc // ends stop
	wg   sync.WaitGroup
}

// stopLocked is the context that ends with Stop; callers hold mu.
func (b *background) stopLocked() context.Context {
	if b.stop == nil {
		b.stop, b.end = context.WithCancel(context.Background())
	}
	return b.stop
}

// Go runs f in its own goroutine with the values of ctx, but not its
// deadline or cancellation: f's context ends when f returns or when Stop
// is called. After Stop, Go runs nothing.
func (b *background) Go(ctx context.Context, f func(context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	stop := b.stopLocked()
	if stop.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopped := context.AfterFunc(stop, cancel)
	b.wg.Go(func() {
		defer cancel()
		defer stopped()
		f(ctx)
	})
}

// Stop cancels what runs in the background and waits for it to return.
func (b *background) Stop() {
	b.mu.Lock()
	b.stopLocked()
	b.end()
	b.mu.Unlock()
	b.wg.Wait()
}
