package fetch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader/fetch"
)

// drip serves a package of n bytes one byte every gap, as a release
// server that means to keep a node waiting would.
func drip(t *testing.T, n int, gap time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		for range n {
			if _, err := w.Write([]byte{'x'}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/dl"
}

func TestFetchRefusesSlowDownloads(t *testing.T) {
	t.Parallel()
	t.Run("below the minimum rate", func(t *testing.T) {
		t.Parallel()
		f := fetcher(t, drip(t, 1_000_000, 20*time.Millisecond))
		f.MinRate, f.RateWindow = 1000, 200*time.Millisecond // a byte every 20 ms is 50 B/s
		_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
		require.ErrorIs(t, err, fetch.ErrTooSlow)
		require.ErrorContains(t, err, "below the minimum of 1000 bytes/s")
	})
	t.Run("over the total time", func(t *testing.T) {
		t.Parallel()
		f := fetcher(t, drip(t, 1_000_000, 20*time.Millisecond))
		f.MinRate, f.MaxTime = 1, 300*time.Millisecond
		_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
		require.ErrorIs(t, err, fetch.ErrTimeout)
		require.ErrorContains(t, err, "300ms")
	})
	t.Run("over the size limit", func(t *testing.T) {
		t.Parallel()
		_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
		f := fetcher(t, src)
		f.MaxSize = 4
		_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
		require.ErrorIs(t, err, fetch.ErrTooLarge)
	})
	t.Run("a fast download passes", func(t *testing.T) {
		t.Parallel()
		_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
		f := fetcher(t, src)
		f.MinRate, f.RateWindow, f.MaxTime = 1, 50*time.Millisecond, time.Minute
		_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
		require.NoError(t, err)
	})
}
