package ghclient

import (
	"errors"
	"net/http"
	"strconv"
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
	// go-github v66 knows neither a 429 nor a secondary limit's 403 whose
	// documentation URL it does not expect: the headers say it all.
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return 0, false
	}
	resp := er.Response
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, time.Second), true
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(reset, 0).Sub(now), time.Second), true
		}
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
