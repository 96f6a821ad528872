package ghclient

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/go-github/v66/github"
)

// RetryAfter reports how long GitHub asked us to wait, for a primary rate
// limit (until the reset) or a secondary one (Retry-After).
func RetryAfter(err error, now time.Time) (time.Duration, bool) {
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return max(rl.Rate.Reset.Sub(now), time.Second), true
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		if abuse.RetryAfter != nil {
			return *abuse.RetryAfter, true
		}
		return time.Minute, true
	}
	return 0, false
}

// Permanent reports whether retrying the same request cannot help: GitHub
// refused it as invalid (4xx other than rate limits and timeouts).
func Permanent(err error) bool {
	if _, limited := RetryAfter(err, time.Now()); limited {
		return false
	}
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return false
	}
	code := er.Response.StatusCode
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// Message is what GitHub said of a failed request, for a person to read:
// the message of its error body, or else the error.
func Message(err error) string {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Message != "" {
		return er.Message
	}
	return err.Error()
}
