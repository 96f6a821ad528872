package app

import (
	"context"
	"net/http"
	"sync"
)

// inflight counts the requests being handled, so that Kill can wait for
// the handlers of the connections it cut: http.Server.Close forgets the
// connections it closes, and Shutdown after it waits for nothing.
type inflight struct {
	mu      sync.Mutex
	n       int
	closed  bool
	drained chan struct{} // closed when closed and n is 0
}

// wrap counts next's requests; after wait began it answers 503.
func (f *inflight) wrap(next http.Handler) http.Handler {
	f.drained = make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		f.n++
		f.mu.Unlock()
		defer f.done()
		next.ServeHTTP(w, r)
	})
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n == 0 && f.closed {
		close(f.drained)
	}
}

// wait refuses new requests and waits until the running ones returned,
// or ctx ends.
func (f *inflight) wait(ctx context.Context) {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		if f.n == 0 {
			close(f.drained)
		}
	}
	f.mu.Unlock()
	select {
	case <-f.drained:
	case <-ctx.Done():
	}
}
