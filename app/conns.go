package app

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// conns counts a server's open connections, so that Kill can wait for the
// handlers of the connections it cut: http.Server.Close forgets the
// connections it closes, and Shutdown after it waits for nothing. A
// connection is closed, for the server, once its handler returned; a
// hijacked one (nothing here hijacks) counts as closed when handed over.
type conns struct{ open sync.WaitGroup }

// track is the server's ConnState hook.
func (c *conns) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Done()
	}
}

// wait waits until every connection is closed, or ctx ends. Call it once
// the server stopped accepting them.
func (c *conns) wait(ctx context.Context) {
	closed := make(chan struct{})
	go func() { c.open.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
	}
}
