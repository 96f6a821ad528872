package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/store"
)

// unavailableFor refuses batches while the database is away: its first
// down calls, or every call when down is negative.
type unavailableFor struct {
	mu    sync.Mutex
	down  int
	calls int
	rows  []store.Request
}

func (f *unavailableFor) RequestsRecord(ctx context.Context, rs []store.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down < 0 || f.calls <= f.down {
		return fmt.Errorf("record requests: %w: %w", store.ErrUnavailable, errors.New("connection refused"))
	}
	f.rows = append(f.rows, rs...)
	return nil
}

// A shutdown while the database is away for a moment still writes every
// row; one away past the shutdown's deadline says how many it lost.
func TestAuditLogShutdownWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	closeWith := func(st *unavailableFor, deadline time.Duration) (error, string) {
		var logged syncBuffer
		l := handlers.NewAuditLog(st, zerolog.New(&logged))
		for i := range 3 {
			require.NoError(t, l.RequestRecord(t.Context(), store.Request{KernelVersion: fmt.Sprint(i)}))
		}
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		return l.Close(ctx), logged.String()
	}

	back := &unavailableFor{down: 3}
	err, _ := closeWith(back, 10*time.Second)
	require.NoError(t, err)
	require.Len(t, back.rows, 3, "written once the database was back")

	gone := &unavailableFor{down: -1}
	err, logged := closeWith(gone, 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, logged, `"rows":3`)
	require.Contains(t, logged, "audit rows not written by the shutdown deadline: lost")
}

// A batch the database refused is written with the next one, not lost:
// one failed write used to cost every request of its AuditFlushEvery.
func TestAuditLogKeepsARefusedBatch(t *testing.T) {
	t.Parallel()
	st := &unavailableFor{down: 1}
	l := handlers.NewAuditLog(st, zerolog.Nop())
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
