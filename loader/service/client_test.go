package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/service"
)

var req = kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}

type answer struct {
	code       int
	retryAfter string
	body       string
}

// script serves the answers in order, the last one forever, and records
// what it was sent.
type script struct {
	mu       sync.Mutex
	answers  []answer
	requests []*http.Request
	bodies   []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body json.RawMessage
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.requests = append(s.requests, r)
	s.bodies = append(s.bodies, string(body))
	a := s.answers[min(len(s.requests), len(s.answers))-1]
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_, _ = w.Write([]byte(a.body))
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func client(t *testing.T, answers ...answer) (*service.Client, *script) {
	t.Helper()
	s := &script{answers: answers}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &service.Client{
		BaseURL: srv.URL + "/", Token: "s3cret", HTTP: srv.Client(), UserAgent: "driver-loader/test",
		Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
	}, s
}

func TestRequest(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		answers  []answer
		want     service.Build
		wantErr  string
		attempts int
	}{
		"package exists": {
			answers:  []answer{{200, "", `{"status":"done","package":"p.deb","download_url":"https://x/p.deb","sha256":"ab12"}`}},
			want:     service.Build{Status: "done", Package: "p.deb", DownloadURL: "https://x/p.deb", SHA256: "ab12"},
			attempts: 1,
		},
		"dispatched": {
			answers:  []answer{{202, "", `{"message":"workflow dispatched","build_id":"b-1","status":"queued"}`}},
			want:     service.Build{BuildID: "b-1", Status: "queued", Message: "workflow dispatched"},
			attempts: 1,
		},
		"rate limited, then dispatched": {
			answers: []answer{
				{429, "0", `{"error":"slow down"}`},
				{503, "0", `not json`},
				{502, "", ``},
				{202, "", `{"build_id":"b-2","status":"in_progress"}`},
			},
			want:     service.Build{BuildID: "b-2", Status: "in_progress"},
			attempts: 4,
		},
		"invalid field": {
			answers:  []answer{{400, "", `{"error":"kernel_version: is required","field":"kernel_version"}`}},
			wantErr:  "build-service answered 400: kernel_version: is required (field kernel_version)",
			attempts: 1,
		},
		"built for another distro version": {
			answers:  []answer{{409, "", `{"error":"p.deb exists but was built for ubuntu 22.04","field":"distro_version"}`}},
			wantErr:  "build-service answered 409: p.deb exists but was built for ubuntu 22.04 (field distro_version)",
			attempts: 1,
		},
		"unauthorized": {
			answers:  []answer{{401, "", `{"error":"bad token"}`}},
			wantErr:  "build-service answered 401: bad token",
			attempts: 1,
		},
		"recently failed": {
			answers:  []answer{{200, "600", `{"build_id":"b-3","status":"error","reason":"build_failed","run_url":"https://gh/run/7","message":"not retried before noon"}`}},
			wantErr:  "build b-3 failed: build_failed: not retried before noon (see https://gh/run/7)",
			attempts: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, s := client(t, tc.answers...)
			b, err := c.Request(context.Background(), req)
			require.Equal(t, tc.attempts, s.count())
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, b)

			r := s.requests[0]
			require.Equal(t, "POST", r.Method)
			require.Equal(t, "/build", r.URL.Path)
			require.Equal(t, "Bearer s3cret", r.Header.Get("Authorization"))
			require.Equal(t, "driver-loader/test", r.Header.Get("User-Agent"))
			require.JSONEq(t, `{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`, s.bodies[0])
		})
	}
}

func TestRequestErrorTypes(t *testing.T) {
	t.Parallel()
	c, _ := client(t, answer{409, "", `{"error":"x","field":"distro_version"}`})
	_, err := c.Request(context.Background(), req)
	var apiErr *service.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 409, apiErr.StatusCode)
	require.Equal(t, "distro_version", apiErr.Field)

	c, _ = client(t, answer{200, "", `{"build_id":"b","status":"error","reason":"timed_out"}`})
	_, err = c.Request(context.Background(), req)
	var failed *service.FailedError
	require.ErrorAs(t, err, &failed)
	require.Equal(t, "timed_out", failed.Build.Reason)
}

func TestWait(t *testing.T) {
	t.Parallel()
	c, s := client(t,
		answer{200, "", `{"build_id":"b-1","status":"queued"}`},
		answer{503, "0", ``},
		answer{200, "0", `{"build_id":"b-1","status":"in_progress","progress":"build / Build driver"}`},
		answer{200, "", `{"build_id":"b-1","status":"done","package":"p.rpm","download_url":"https://x/p.rpm","sha256":"cd34"}`},
	)
	var seen []string
	var notified int
	c.Notify = func(error, time.Duration) { notified++ }
	b, err := c.Wait(context.Background(), "b-1", func(b service.Build) { seen = append(seen, b.Status+" "+b.Progress) })
	require.NoError(t, err)
	require.Equal(t, "https://x/p.rpm", b.DownloadURL)
	require.Equal(t, "cd34", b.SHA256)
	require.Equal(t, []string{"queued ", "in_progress build / Build driver", "done "}, seen)
	require.Equal(t, 1, notified, "only the 503 is a failure worth hearing about")
	require.Equal(t, 4, s.count())
	for _, r := range s.requests {
		require.Equal(t, "GET", r.Method)
		require.Equal(t, "/status/b-1", r.URL.Path)
		require.Equal(t, "Bearer s3cret", r.Header.Get("Authorization"))
	}
}

// TestRetryAfterZeroWaitsTheBackoff: "Retry-After: 0" does not cut the
// backoff's wait short.
func TestRetryAfterZeroWaitsTheBackoff(t *testing.T) {
	t.Parallel()
	for _, header := range []string{"0", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)} {
		c, _ := client(t, answer{503, header, ``})
		c.Backoff = func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }
		ctx, cancel := context.WithCancel(context.Background())
		var waits []time.Duration
		c.Notify = func(_ error, d time.Duration) { waits = append(waits, d); cancel() }
		_, err := c.Wait(ctx, "b-1", nil)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, []time.Duration{time.Hour}, waits, header)
	}
}

func TestWaitFailed(t *testing.T) {
	t.Parallel()
	c, _ := client(t,
		answer{200, "", `{"build_id":"b-1","status":"in_progress"}`},
		answer{200, "", `{"build_id":"b-1","status":"error","reason":"build_failed","run_url":"https://gh/run/9"}`},
	)
	_, err := c.Wait(context.Background(), "b-1", nil)
	var failed *service.FailedError
	require.ErrorAs(t, err, &failed)
	require.EqualError(t, err, "build b-1 failed: build_failed (see https://gh/run/9)")
}

func TestWaitUnknownBuild(t *testing.T) {
	t.Parallel()
	c, s := client(t, answer{404, "", `{"error":"no build b-9"}`})
	_, err := c.Wait(context.Background(), "b-9", nil)
	require.EqualError(t, err, "build-service answered 404: no build b-9")
	require.Equal(t, 1, s.count(), "a 404 is not retried")
}

func TestWaitGivesUpWithContext(t *testing.T) {
	t.Parallel()
	c, _ := client(t, answer{200, "", `{"build_id":"b-1","status":"in_progress","progress":"build / Set up job"}`})
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	_, err := c.Wait(ctx, "b-1", func(service.Build) {
		if polls++; polls == 3 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, `build b-1 not finished (last seen in_progress, at "build / Set up job")`)
	require.Equal(t, 3, polls)
}

// A redirect from the service is not followed: the bearer token must not
// reach another port of the same host.
func TestTokenNotSentOnRedirect(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization") != "")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"done","package":"p.deb","download_url":"https://x/p.deb","sha256":"ab"}`))
	}))
	t.Cleanup(other.Close)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(svc.Close)
	c := &service.Client{BaseURL: svc.URL, Token: "s3cret", HTTP: svc.Client(),
		Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} }}

	_, err := c.Request(t.Context(), req)
	var apiErr *service.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusTemporaryRedirect, apiErr.StatusCode)
	require.False(t, leaked.Load(), "the token reached the redirect target")
}
