package postgres_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/storetest"
)

// cutter is a TCP proxy to the database that the test can cut, as a
// database that goes away cuts its sessions and refuses new ones.
type cutter struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &cutter{ln: ln}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(c.cut)
	return c
}

func (c *cutter) cut() {
	c.ln.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
}

// A database that went away is store.ErrUnavailable, promptly, for reads
// and transactions alike: callers answer 503 and retry, not 500.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	dbURL, schema := storetest.PostgresSchema(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	c := newCutter(t, u.Host)
	u.Host = c.ln.Addr().String()
	s, err := postgres.Open(t.Context(), u.String(), postgres.WithSchema(schema))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.ReleaseTags(t.Context())
	require.NoError(t, err)

	c.cut()
	began := time.Now()
	_, err = s.ReleaseTags(t.Context())
	require.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.BuildByID(t.Context(), "01a230bb-bab6-7d3f-b308-ebbaf91a82a8")
	require.ErrorIs(t, err, store.ErrUnavailable)
	err = s.InTx(t.Context(), func(store.Tx) error { return nil })
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.Less(t, time.Since(began), 10*time.Second, "no hang on a dead pool")

	_, err = s.BuildByID(t.Context(), "no-such-build")
	require.NotErrorIs(t, err, store.ErrNotFound, "nothing is found while the database is away")
}
