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
	once sync.Once
	stop context.Context // ends with Stop
	end  context.CancelFunc
	mu   sync.Mutex // orders Go's check of stop before Stop's Wait
	wg   sync.WaitGroup
}

func (b *background) init() {
	b.once.Do(func() { b.stop, b.end = context.WithCancel(context.Background()) })
}

// Go runs f in its own goroutine with the values of ctx, but not its
// deadline or cancellation: f's context ends when f returns or when Stop
// is called. After Stop, Go runs nothing.
func (b *background) Go(ctx context.Context, f func(context.Context)) {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopped := context.AfterFunc(b.stop, cancel)
	b.wg.Go(func() {
		defer cancel()
		defer stopped()
		f(ctx)
	})
}

// Stop cancels what runs in the background and waits for it to return.
func (b *background) Stop() {
	b.init()
	b.mu.Lock()
	b.end()
	b.mu.Unlock()
	b.wg.Wait()
}
