package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
)

func testDispatchLease(t *testing.T, s store.Store) {
	b := mustCreate(t, s, createParams(at(0)))
	take := func(now, until int) store.DispatchLease {
		t.Helper()
		l, err := s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: b.ID, Now: at(now), Until: at(until)})
		require.NoError(t, err)
		return l
	}
	require.Equal(t, store.DispatchLease{Taken: true, Until: at(10)}, take(0, 10), "nobody held it")
	require.Equal(t, store.DispatchLease{Until: at(10), Attempted: true}, take(5, 15), "held until 10")
	require.Equal(t, store.DispatchLease{Taken: true, Until: at(20), Attempted: true}, take(10, 20), "ended at 10")
	require.Equal(t, store.DispatchLease{Taken: true, Until: at(30), Attempted: true}, take(25, 30))
}

func testDispatchLeaseConcurrent(t *testing.T, s store.Store) {
	const n = 32
	b := mustCreate(t, s, createParams(at(0)))
	var (
		wg     sync.WaitGroup
		leases [n]store.DispatchLease
		errs   [n]error
	)
	for i := range n {
		wg.Go(func() {
			leases[i], errs[i] = s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: b.ID, Now: at(0), Until: at(10 + i)})
		})
	}
	wg.Wait()
	winner := -1
	for i := range n {
		require.NoError(t, errs[i])
		if leases[i].Taken {
			require.Equal(t, -1, winner, "two takers won: %d and %d", winner, i)
			winner = i
		}
	}
	require.NotEqual(t, -1, winner, "nobody won")
	require.False(t, leases[winner].Attempted)
}

func testClock(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Minute)
	first, err := s.Clock(t.Context())
	require.NoError(t, err)
	second, err := s.Clock(t.Context())
	require.NoError(t, err)
	require.Equal(t, time.UTC, first.Location())
	require.Equal(t, first, first.Truncate(time.Microsecond), "as precise as a stored time")
	require.True(t, first.After(before) && first.Before(time.Now().Add(time.Minute)), "the database's clock reads %s", first)
	require.False(t, second.Before(first), "it moves on, not back")
	// Inside a transaction too, and still moving: not the transaction's start.
	require.NoError(t, s.InTx(t.Context(), func(tx store.Tx) error {
		a, err := tx.Clock(t.Context())
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
		b, err := tx.Clock(t.Context())
		require.NoError(t, err)
		require.True(t, b.After(a), "%s, then %s", a, b)
		return nil
	}))
}
