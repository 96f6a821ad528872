package app

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Kill's wait returns once the handlers of the connections it cut have
// returned, and no handler starts after it.
func TestConnsWaitForHandlers(t *testing.T) {
	t.Parallel()
	var c conns
	started, release := make(chan struct{}), make(chan struct{})
	var ended atomic.Bool
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			time.Sleep(20 * time.Millisecond)
			ended.Store(true)
		}),
		ConnState: c.track,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go func() { _, _ = http.Get("http://" + ln.Addr().String() + "/") }()
	<-started

	require.NoError(t, srv.Close())
	<-served
	waited := make(chan struct{})
	go func() { c.wait(context.Background()); close(waited) }()
	select {
	case <-waited:
		t.Fatal("wait returned while a handler ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-waited
	require.True(t, ended.Load(), "wait returned before the handler did")

	_, err = http.Get("http://" + ln.Addr().String() + "/")
	require.Error(t, err, "a request after the wait is refused")
}
