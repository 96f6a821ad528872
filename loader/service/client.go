// Package service is the driver-loader's client for the build-service:
// POST /build asks for a package, GET /status/{id} follows a build.
package service

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/kernel"
)

// Build states, as the service reports them.
const (
	StatusQueued     = buildapi.StatusQueued
	StatusInProgress = buildapi.StatusInProgress
	StatusDone       = buildapi.StatusDone
	StatusError      = buildapi.StatusError
)

// Build is the service's answer about one package: a finished one (status
// done, with its URL and digest), or a build to follow.
type Build = buildapi.Build

// APIError is a refusal from the service: a 4xx with its message and, for
// a 400 or 409, the request field at fault.
type APIError struct {
	StatusCode int
	Message    string
	Field      string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("build-service answered %d", e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// FailedError is a build that ended in error.
type FailedError struct{ Build Build }

func (e *FailedError) Error() string {
	s := fmt.Sprintf("build %s failed: %s", e.Build.BuildID, cmp.Or(e.Build.Reason, "no reason given"))
	if e.Build.Message != "" {
		s += ": " + e.Build.Message
	}
	if e.Build.RunURL != "" {
		s += " (see " + e.Build.RunURL + ")"
	}
	return s
}

// Client talks to one build-service. Its methods retry what is worth
// retrying (network errors, 429, 5xx) until ctx ends, honouring
// Retry-After; the caller bounds the total time with ctx.
type Client struct {
	BaseURL string
	Token   string // bearer token; empty sends none
	HTTP    *http.Client
	// UserAgent identifies the loader in the service's logs.
	UserAgent string
	// Backoff makes the wait between retries and polls; nil means
	// DefaultBackoff.
	Backoff func() backoff.BackOff
	// Notify hears about each failed attempt before the wait that follows.
	Notify func(err error, wait time.Duration)
}

// DefaultBackoff polls after about 2 s at first, then up to every 30 s,
// with ±50 % jitter so that a fleet booting together spreads its requests.
func DefaultBackoff() backoff.BackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: 2 * time.Second, RandomizationFactor: 0.5, Multiplier: 1.5, MaxInterval: 30 * time.Second,
	}
}

// maxBody bounds what is read from the service.
const maxBody = 1 << 20

// Request asks for the package of r. The answer is a finished build when
// the package exists, or a queued or running one to Wait for.
func (c *Client) Request(ctx context.Context, r kernel.Request) (Build, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Build{}, err
	}
	b, err := c.retry(ctx, func() (Build, error) {
		b, _, err := c.do(ctx, http.MethodPost, "/build", body)
		return b, err
	})
	if err != nil {
		return Build{}, err
	}
	if b.Status == StatusError {
		return b, &FailedError{Build: b}
	}
	return b, nil
}

func (c *Client) status(ctx context.Context, id string) (Build, *time.Duration, error) {
	return c.do(ctx, http.MethodGet, "/status/"+url.PathEscape(id), nil)
}

// errRunning keeps the poll loop going.
var errRunning = errors.New("build still running")

// Wait polls the build until it finishes or ctx ends, calling progress
// with every answer. A build that ends in error is a *FailedError.
func (c *Client) Wait(ctx context.Context, id string, progress func(Build)) (Build, error) {
	var last Build
	b, err := c.retry(ctx, func() (Build, error) {
		b, after, err := c.status(ctx, id)
		if err != nil {
			return b, err
		}
		last = b
		if progress != nil {
			progress(b)
		}
		switch {
		case b.Finished():
			return b, nil
		case after != nil: // the service asks for patience
			return b, &waitError{err: errRunning, after: *after}
		}
		return b, errRunning
	})
	switch {
	case err == nil && b.Status == StatusError:
		return b, &FailedError{Build: b}
	case err != nil && ctx.Err() != nil && last.BuildID != "":
		return last, fmt.Errorf("build %s not finished (last seen %s%s): %w", id, last.Status, progressSuffix(last), err)
	}
	return b, err
}

func progressSuffix(b Build) string {
	if b.Progress == "" {
		return ""
	}
	return ", at " + strconv.Quote(b.Progress)
}

func (c *Client) retry(ctx context.Context, op backoff.Operation[Build]) (Build, error) {
	bo := DefaultBackoff
	if c.Backoff != nil {
		bo = c.Backoff
	}
	hb := &hinted{BackOff: bo()}
	hop := func() (Build, error) {
		b, err := op()
		var w *waitError
		if errors.As(err, &w) {
			hb.after = w.after
		}
		return b, err
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(hb), backoff.WithMaxElapsedTime(0)}
	if c.Notify != nil {
		opts = append(opts, backoff.WithNotify(func(err error, d time.Duration) {
			if !errors.Is(err, errRunning) {
				c.Notify(err, d)
			}
		}))
	}
	return backoff.Retry(ctx, hop, opts...)
}

// waitError is a failure, or a build still running, with the wait the
// server asked for in Retry-After.
type waitError struct {
	err   error
	after time.Duration
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// hinted is a BackOff that waits at least what the server asked for.
// backoff.RetryAfter would wait exactly that and reset the backoff, so a
// server answering "Retry-After: 0" (or a date past) would be polled in a
// tight loop, and a fleet told the same wait would come back in step.
type hinted struct {
	backoff.BackOff
	after time.Duration // from the last answer; used once
}

func (h *hinted) NextBackOff() time.Duration {
	next := h.BackOff.NextBackOff()
	after := h.after
	h.after = 0
	if next == backoff.Stop {
		return next
	}
	return wait(next, after)
}

// wait is the longer of the backoff's next wait and the server's, with up
// to a fifth more of the server's for jitter (the backoff's has its own).
func wait(next, after time.Duration) time.Duration {
	if after <= next {
		return next
	}
	return after + rand.N(after/5+1)
}

// do makes one request and sorts the answer into a result, a permanent
// error, or a retryable one (with the server's Retry-After when it gave
// one). A successful answer comes with its Retry-After, if any.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (Build, *time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return Build{}, nil, backoff.Permanent(fmt.Errorf("build-service URL: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if c.Token != "" {
		// The API never redirects: one that does is not followed, so the
		// token goes nowhere else (Go would resend it to the same host on
		// another port, or over http).
		noRedirect := *hc
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		hc = &noRedirect
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Build{}, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Build{}, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}

	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusAccepted:
		var b Build
		if err := json.Unmarshal(raw, &b); err != nil {
			return Build{}, nil, backoff.Permanent(fmt.Errorf("%s %s: answer is not a build: %w", method, path, err))
		}
		if after, ok := retryAfter(resp.Header); ok {
			return b, &after, nil
		}
		return b, nil, nil
	case code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("%s %s: %s", method, path, resp.Status)
		if after, ok := retryAfter(resp.Header); ok {
			return Build{}, nil, &waitError{err: err, after: after}
		}
		return Build{}, nil, err
	default:
		var e buildapi.Error
		_ = json.Unmarshal(raw, &e) // a body that is not JSON leaves only the status
		return Build{}, nil, backoff.Permanent(&APIError{StatusCode: code, Message: e.Error, Field: e.Field})
	}
}

// maxRetryAfter caps what a server may ask for, so that one bad header
// does not park a node for a day; ctx bounds the total anyway.
const maxRetryAfter = 5 * time.Minute

// retryAfter reads Retry-After in seconds or as an HTTP date; a date past
// is no wait, which wait makes the backoff's.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	d := time.Duration(0)
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(min(secs, int(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t).Round(time.Second)
	} else {
		return 0, false
	}
	return max(0, min(d, maxRetryAfter)), true
}
