package handlers

import (
	"fmt"
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

// Per-address buckets are bounded: past maxBuckets the one not heard from
// the longest goes, and an address throttled a moment ago stays throttled.
func TestLimiterKeepsTheRecentAddresses(t *testing.T) {
	t.Parallel()
	lim := newLimiter(RateLimit{PerSecond: 1.0 / 60, Burst: 2, Per: "ip"})
	now := time.Unix(1_700_000_000, 0)
	for range 2 {
		require.Zero(t, lim.take("192.0.2.1", now))
	}
	for i := range maxBuckets - 1 {
		lim.take(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), now)
	}
	require.Positive(t, lim.take("192.0.2.1", now), "throttled")
	for i := range 10 {
		lim.take(fmt.Sprintf("fd00::%x", i), now)
	}
	require.Equal(t, maxBuckets, lim.buckets.Len(), "no more buckets than maxBuckets")
	require.Positive(t, lim.take("192.0.2.1", now), "still throttled: heard from lately, its bucket stayed")
	require.False(t, lim.buckets.Contains("10.0.0.0"), "the address not heard from the longest went")
}

// BenchmarkLimiterNewAddresses: per-address limits under a flood of new
// addresses once the limiter holds as many as it keeps, each address
// asking once and staying under its burst.
func BenchmarkLimiterNewAddresses(b *testing.B) {
	lim := newLimiter(RateLimit{PerSecond: 1.0 / 60, Burst: 3, Per: "ip"})
	now := time.Unix(1_700_000_000, 0)
	for i := range maxBuckets {
		lim.take(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), now)
	}
	b.ResetTimer()
	for i := range b.N {
		lim.take(fmt.Sprintf("fd00::%x", i), now)
	}
}
