package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// A request's raw fields go into its audit row, which is written in one
// batch with the rows around it: a value Postgres refuses (a NUL, which
// JSON spells \u0000) must not cost the batch, the others' rows too.
func TestAuditRowTakesANul(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		rows := []store.Request{
			{ReceivedAt: time.Now().UTC(), KernelVersion: clip("6.8.0\x00-1053-gcp"), Field: clip("kernel\x00version"),
				Outcome: "invalid", HTTPStatus: 400, Error: "bad"},
			{ReceivedAt: time.Now().UTC(), KernelVersion: clip("6.8.0-1053-gcp"), Outcome: "cached", HTTPStatus: 200},
		}
		require.NoError(t, st.RequestsRecord(t.Context(), rows))
		got, err := st.RequestsRecent(t.Context(), 10)
		require.NoError(t, err)
		require.Len(t, got, 2)
	})
}

// failingOnce refuses its first batch, as a database does in a failover.
type failingOnce struct {
	mu    sync.Mutex
	calls int
	rows  []store.Request
}

func (f *failingOnce) RequestsRecord(_ context.Context, rs []store.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == 1 {
		return fmt.Errorf("record requests: %w: %w", store.ErrUnavailable, errors.New("connection refused"))
	}
	f.rows = append(f.rows, rs...)
	return nil
}

// A batch the database refused is written with the next one, not lost:
// one failed write used to cost every request of its AuditFlushEvery.
func TestAuditLogKeepsARefusedBatch(t *testing.T) {
	t.Parallel()
	st := &failingOnce{}
	l := NewAuditLog(st, zerolog.Nop())
	for i := range 3 {
		require.NoError(t, l.RequestRecord(t.Context(), store.Request{KernelVersion: fmt.Sprint(i)}))
	}
	require.Eventually(t, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.calls >= 1
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, l.Close(t.Context()))
	require.Len(t, st.rows, 3)
}
