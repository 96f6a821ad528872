package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kill's wait returns once the handlers it cut off have returned, and no
// handler starts after it.
func TestInflightWaitsForHandlers(t *testing.T) {
	var f inflight
	started, release := make(chan struct{}), make(chan struct{})
	var ended atomic.Bool
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		time.Sleep(20 * time.Millisecond)
		ended.Store(true)
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	<-started

	waited := make(chan struct{})
	go func() { f.wait(context.Background()); close(waited) }()
	select {
	case <-waited:
		t.Fatal("wait returned while a handler ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-waited
	require.True(t, ended.Load(), "wait returned before the handler did")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a request after the wait is refused")
}
