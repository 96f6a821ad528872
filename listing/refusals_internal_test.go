package listing

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRefusalsWaitTwiceAsLongUpToTheMax(t *testing.T) {
	t.Parallel()
	var r refusals
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	require.True(t, r.due("b", "h1", t0), "never refused")
	at := t0
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		r.refused("b", "h1", at, time.Second)
		require.False(t, r.due("b", "h1", at.Add(wait-time.Millisecond)))
		at = at.Add(wait)
		require.True(t, r.due("b", "h1", at))
	}
	require.True(t, r.due("b", "h2", t0), "a new head is tried at once")
	require.True(t, r.due("other", "h1", t0), "another branch is not held")

	for range 20 {
		r.refused("b", "h1", at, time.Second)
	}
	require.False(t, r.due("b", "h1", at.Add(mergeRetryMax-time.Second)))
	require.True(t, r.due("b", "h1", at.Add(mergeRetryMax)), "the wait stops growing")

	r.refused("b", "h2", t0, time.Second)
	require.True(t, r.due("b", "h1", t0), "the refusal of a new head replaces the old")
	require.False(t, r.due("b", "h2", t0))
	r.forget("b")
	require.True(t, r.due("b", "h2", t0), "merged: forgotten")

	for i := range refusalsKept + 1 {
		r.refused(fmt.Sprint("branch-", i), "h", t0, time.Minute)
	}
	require.Equal(t, refusalsKept, r.by.Len(), "bounded")
	require.True(t, r.due("branch-0", "h", t0), "the one refused longest ago went")
	require.False(t, r.due(fmt.Sprint("branch-", refusalsKept), "h", t0))
}
