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
	take := func(held time.Time, term time.Duration) store.DispatchLease {
		t.Helper()
		l, err := s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: b.ID, Held: held, Term: term})
		require.NoError(t, err)
		return l
	}
	clock := func() time.Time {
		t.Helper()
		now, err := s.Clock(t.Context())
		require.NoError(t, err)
		return now
	}

	before := clock()
	first := take(time.Time{}, time.Minute)
	require.True(t, first.Taken, "nobody held it")
	require.False(t, first.Attempted)
	require.Equal(t, time.Minute, first.Left)
	require.WithinRange(t, first.Until, before.Add(time.Minute), clock().Add(time.Minute), "a term from the database's now")
	require.Equal(t, first.Until, first.Until.UTC().Truncate(time.Microsecond), "as stored")

	held := take(time.Time{}, time.Hour)
	require.Equal(t, store.DispatchLease{Until: first.Until, Left: held.Left, Attempted: true}, held, "held by the first")
	require.True(t, held.Left > 0 && held.Left <= time.Minute, "left: %s", held.Left)

	extended := take(first.Until, 2*time.Minute)
	require.True(t, extended.Taken, "its holder extends it")
	require.True(t, extended.Attempted)
	require.True(t, extended.Until.After(first.Until))
	require.False(t, take(first.Until, time.Hour).Taken, "a holder whose lease was extended since holds it no more")
	kept := take(extended.Until, time.Second)
	require.True(t, kept.Taken)
	require.Equal(t, extended.Until, kept.Until, "a holder's shorter term does not shorten its lease")
	require.True(t, kept.Left > time.Second && kept.Left <= 2*time.Minute, "left: %s", kept.Left)

	// One that ended is free.
	short := mustCreate(t, s, createParams(at(1)))
	l, err := s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: short.ID, Term: time.Millisecond})
	require.NoError(t, err)
	require.True(t, l.Taken)
	for !clock().After(l.Until) {
		time.Sleep(time.Millisecond)
	}
	l, err = s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: short.ID, Term: time.Minute})
	require.NoError(t, err)
	require.True(t, l.Taken, "it ended")
	require.True(t, l.Attempted, "but was taken before")
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
			leases[i], errs[i] = s.DispatchLease(t.Context(), store.DispatchLeaseParams{BuildID: b.ID, Term: time.Duration(10+i) * time.Second})
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
