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
	mu      sync.Mutex
	stopped bool
	done    chan struct{} // closed by Stop
	wg      sync.WaitGroup
}

// Go runs f in its own goroutine with the values of ctx, but not its
// deadline or cancellation: f's context ends when f returns or when Stop
// is called. After Stop, Go runs nothing.
func (b *background) Go(ctx context.Context, f func(context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if b.done == nil {
		b.done = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := b.done
	b.wg.Go(func() {
		defer cancel()
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
		f(ctx)
	})
}

// Stop cancels what runs in the background and waits for it to return.
func (b *background) Stop() {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		if b.done != nil {
			close(b.done)
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
}
