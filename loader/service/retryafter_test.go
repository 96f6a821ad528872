package service

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		header string
		want   int
		ok     bool
	}{
		"absent":     {"", 0, false},
		"seconds":    {"7", 7, true},
		"capped":     {"86400", maxRetryAfter, true},
		"negative":   {"-3", 0, true},
		"past date":  {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, true},
		"not a time": {"soon", 0, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			got, ok := retryAfter(h)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
