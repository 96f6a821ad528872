package handlers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The default limit serves a boot storm of 2,000 nodes on one token: each
// asks for its build at once and then polls on the loader's schedule
// until a build of 15 minutes ends.
func TestBootStormIsServed(t *testing.T) {
	t.Parallel()
	const nodes = 2000
	// The loader's backoff without its jitter: everyone polls in step,
	// the worst case.
	var schedule []time.Duration
	at, wait := time.Duration(0), 2*time.Second
	for at < 15*time.Minute {
		schedule = append(schedule, at)
		at += wait
		wait = min(wait*3/2, 30*time.Second)
	}
	lim := newLimiter(DefaultRateLimit())
	start := time.Unix(1_700_000_000, 0)
	for _, at := range schedule {
		for n := range nodes {
			// The nodes of one round arrive within a second.
			now := start.Add(at + time.Duration(n)*time.Second/nodes)
			require.Zero(t, lim.take("client fleet", now), "request at %v of node %d was refused", at, n)
		}
	}

	// And the limit is one: twice the fleet in step is refused.
	lim = newLimiter(DefaultRateLimit())
	refused := 0
	for _, at := range schedule[:4] {
		for n := range 2 * nodes {
			if lim.take("client fleet", start.Add(at+time.Duration(n)*time.Second/(2*nodes))) > 0 {
				refused++
			}
		}
	}
	require.Positive(t, refused)
}
