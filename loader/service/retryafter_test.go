package service

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWaitHonoursRetryAfter: the wait after an answer is the backoff's
// next one or the server's Retry-After, whichever is longer, never less:
// "0" or a date past must not make the loader poll in a tight loop.
func TestWaitHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	const next = 2 * time.Second
	for name, tc := range map[string]struct {
		header   string
		min, max time.Duration
	}{
		"absent":                   {"", next, next},
		"zero":                     {"0", next, next},
		"negative":                 {"-3", next, next},
		"past date":                {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), next, next},
		"shorter than the backoff": {"1", next, next},
		"not a time":               {"soon", next, next},
		"seconds":                  {"10", 10 * time.Second, 12 * time.Second},
		"future date":              {time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), 58 * time.Second, 73 * time.Second},
		"capped":                   {"86400", maxRetryAfter, maxRetryAfter * 6 / 5},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			after, _ := retryAfter(h)
			got := wait(next, after)
			require.GreaterOrEqual(t, got, tc.min)
			require.LessOrEqual(t, got, tc.max)
		})
	}
}
