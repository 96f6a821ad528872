package loader

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader/fetch"
)

// stalling sends half of body, then nothing until the client goes away,
// on the first stalls requests; then all of it.
type stalling struct {
	mu     sync.Mutex
	stalls int
	body   []byte
	seen   int
}

func (s *stalling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen++
	stall := s.seen <= s.stalls
	s.mu.Unlock()
	w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
	if !stall {
		_, _ = w.Write(s.body)
		return
	}
	_, _ = w.Write(s.body[:len(s.body)/2])
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestStalledDownloadFails(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&stalling{stalls: 1, body: []byte("0123456789")})
	t.Cleanup(srv.Close)
	resp, err := newHTTPClient(100 * time.Millisecond).Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	require.ErrorIs(t, err, errStalled)
	require.ErrorContains(t, err, "no data for 100ms")
}

func TestStalledDownloadIsRetried(t *testing.T) {
	t.Parallel()
	body := []byte("a package that stalls once")
	s := &stalling{stalls: 1, body: body}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	f := &fetch.Fetcher{
		HTTP: newHTTPClient(100 * time.Millisecond), Sources: []string{srv.URL}, CacheDir: t.TempDir(),
		Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
	}
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: "v0.1.2", Package: "p.deb", SHA256: fmt.Sprintf("%x", sha256.Sum256(body))})
	require.NoError(t, err)
	defer res.File.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Equal(t, 2, s.seen, "the stalled attempt, then one that completes")
}
