package storetest

import (
	"sync"
	"testing"

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
