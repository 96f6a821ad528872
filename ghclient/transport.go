package ghclient

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// Budget buckets: GitHub counts the App's own calls (JWT) apart from the
// installation's (its token).
const (
	BucketInstallation = "installation"
	BucketApp          = "app"
)

// Rate is what GitHub last said of a bucket's hourly budget.
type Rate struct {
	Limit, Remaining int
	Reset            time.Time
}

// Budget keeps the remaining API budget of each bucket as the responses'
// X-RateLimit headers tell it.
type Budget struct {
	mu       sync.Mutex
	rates    map[string]Rate
	deferred map[string]int64
}

// NewBudget returns a Budget that knows nothing yet.
func NewBudget() *Budget {
	return &Budget{rates: map[string]Rate{}, deferred: map[string]int64{WorkIndexRefresh: 0, WorkRedelivery: 0, WorkKernelsJSON: 0}}
}

// Rates returns what is known, by bucket.
func (b *Budget) Rates() map[string]Rate {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.rates)
}

// reserveShare of a bucket's budget is kept for the calls that cannot
// wait: dispatches and the poller.
const reserveShare = 5

// The optional work that Defer counts, by name.
const (
	WorkIndexRefresh = "index_refresh"
	WorkRedelivery   = "redelivery"
	WorkKernelsJSON  = "kernels_json"
)

// Defer is asked by optional work (what) before its calls: it says
// whether the bucket has spent all but its reserve before its reset, and
// the reset. When so the work waits until then, and is counted and
// logged. A nil Budget defers nothing.
func (b *Budget) Defer(ctx context.Context, bucket, what string, now time.Time) (reset time.Time, deferred bool) {
	if b == nil {
		return time.Time{}, false
	}
	b.mu.Lock()
	r, ok := b.rates[bucket]
	deferred = ok && now.Before(r.Reset) && r.Remaining < r.Limit/reserveShare
	if deferred {
		b.deferred[what]++
	}
	b.mu.Unlock()
	if deferred {
		zerolog.Ctx(ctx).Warn().Str("work", what).Str("bucket", bucket).Int("rate_remaining", r.Remaining).Time("rate_reset", r.Reset).
			Msg("GitHub API budget low; optional work put off until the reset")
	}
	return r.Reset, deferred
}

// Deferred says how often each optional work was deferred.
func (b *Budget) Deferred() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.deferred)
}

func (b *Budget) observe(bucket string, h http.Header) (Rate, bool) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Rate{}, false
	}
	r := Rate{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0).UTC()}
	b.mu.Lock()
	b.rates[bucket] = r
	b.mu.Unlock()
	return r, true
}

// bucketOf tells the App's calls (under /app/, and the installation
// lookup) from the installation's by path.
func bucketOf(path string) string {
	if strings.Contains(path, "/app/") || strings.HasSuffix(path, "/app") || strings.HasSuffix(path, "/installation") {
		return BucketApp
	}
	return BucketInstallation
}

// Retry policy of the transport: a read that failed with a 5xx or a
// timeout is tried again with backoff, each try bounded on its own.
const (
	tryTimeout = 10 * time.Second
	maxTries   = 4
)

// Middleware retries reads that failed with a 5xx or a network error or
// timeout, and records every answer's rate-limit headers in budget. Writes
// are not retried here: a dispatch whose answer was lost may have started
// a run, and only the caller can look for it before trying again. Rate
// limits are not retried either: go-github turns them into errors that
// say how long to wait, and the caller waits that long.
func Middleware(budget *Budget) githubapp.ClientMiddleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &transport{next: next, budget: budget}
	}
}

type transport struct {
	next   http.RoundTripper
	budget *Budget
}

var errRetry = errors.New("retry")

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 200*time.Millisecond, 3*time.Second
	tries := uint(1)
	if read {
		tries = maxTries
	}
	var last *http.Response
	resp, err := backoff.Retry(req.Context(), func() (*http.Response, error) {
		resp, err := t.try(req, read)
		switch {
		case err != nil && req.Context().Err() != nil:
			return nil, backoff.Permanent(err)
		case err != nil:
			return nil, err
		case resp.StatusCode >= 500 && read:
			// Keep the answer: the last one is what the caller gets.
			if last != nil {
				drain(last)
			}
			last = resp
			return nil, errRetry
		}
		return resp, nil
	}, backoff.WithBackOff(bo), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(0))
	if errors.Is(err, errRetry) && last != nil {
		return last, nil
	}
	if err != nil && last != nil {
		drain(last)
	}
	if resp == nil && err == nil {
		err = errors.New("no response")
	}
	return resp, err
}

// try makes one request, a read bounded by tryTimeout so that a hung
// answer is retried; the bound lasts until its body is closed.
func (t *transport) try(req *http.Request, read bool) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	r := req
	if read {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(req.Context(), tryTimeout)
		r = req.Clone(ctx)
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	bucket := bucketOf(req.URL.Path)
	if rate, ok := t.budget.observe(bucket, resp.Header); ok {
		log := zerolog.Ctx(req.Context())
		ev := log.Debug()
		if rate.Remaining < rate.Limit/reserveShare && rate.Remaining%50 == 0 {
			ev = log.Warn() // now and then, as the reserve runs down
		}
		ev.Str("bucket", bucket).Int("rate_remaining", rate.Remaining).Int("rate_limit", rate.Limit).
			Time("rate_reset", rate.Reset).Str("method", req.Method).Str("path", req.URL.Path).
			Int("status", resp.StatusCode).Msg("GitHub API call")
	}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
