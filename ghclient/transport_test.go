package ghclient_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
)

const runRoute = "GET /api/v3/repos/{owner}/{repo}/actions/runs/{run_id}"

// low is Budget.Defer's verdict alone.
func low(t *testing.T, b *ghclient.Budget, bucket string, now time.Time) bool {
	_, deferred := b.Defer(t.Context(), bucket, "test", now)
	return deferred
}

// startWith is start with the middleware under test, and its budget.
func startWith(t *testing.T, cfg ghsim.Config) (*ghsim.Server, *ghclient.Client, *ghclient.Budget) {
	t.Helper()
	sim, err := ghsim.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })
	budget := ghclient.NewBudget()
	creator := githubapp.NewClientCreator(sim.URL()+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM(),
		githubapp.WithClientMiddleware(ghclient.Middleware(budget)))
	return sim, ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main"}), budget
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	t.Run("a read that failed with a 5xx is tried again", func(t *testing.T) {
		t.Parallel()
		sim, client, _ := startWith(t, ghsim.Config{BuildDuration: time.Hour})
		ref, err := client.Dispatch(t.Context(), inputs("01a21cf6-92a5-792f-96bb-2a01ef022348"))
		require.NoError(t, err)
		require.NoError(t, sim.InjectFault(ghsim.Fault{Route: runRoute, Status: http.StatusBadGateway, Count: 2}))
		run, err := client.Run(t.Context(), ref.ID)
		require.NoError(t, err)
		require.Equal(t, ref.ID, run.ID)
		require.EqualValues(t, 3, sim.Stats().ByRoute[runRoute])
	})
	t.Run("a read that keeps failing gives up with GitHub's answer", func(t *testing.T) {
		t.Parallel()
		sim, client, _ := startWith(t, ghsim.Config{BuildDuration: time.Hour})
		require.NoError(t, sim.InjectFault(ghsim.Fault{Route: runRoute, Status: http.StatusServiceUnavailable, Count: 100}))
		_, err := client.Run(t.Context(), 1)
		require.ErrorContains(t, err, "503")
		require.EqualValues(t, 4, sim.Stats().ByRoute[runRoute])
	})
	t.Run("a dispatch is never tried again: its answer may be lost after the run started", func(t *testing.T) {
		t.Parallel()
		sim, client, _ := startWith(t, ghsim.Config{BuildDuration: time.Hour})
		require.NoError(t, sim.InjectFault(ghsim.Fault{Route: dispatchRoute, Status: http.StatusBadGateway, AfterHandling: true}))
		_, err := client.Dispatch(t.Context(), inputs("01a21cf6-92a5-792f-96bb-2a01ef022348"))
		require.ErrorContains(t, err, "502")
		require.EqualValues(t, 1, sim.Stats().ByRoute[dispatchRoute])
		require.EqualValues(t, 1, sim.Stats().Dispatches)
	})
	t.Run("a rate limit is not tried again", func(t *testing.T) {
		t.Parallel()
		sim, client, _ := startWith(t, ghsim.Config{BuildDuration: time.Hour})
		require.NoError(t, sim.InjectFault(ghsim.Fault{Route: runRoute, Status: http.StatusTooManyRequests, RetryAfter: 3}))
		_, err := client.Run(t.Context(), 1)
		d, limited := ghclient.RetryAfter(err, time.Now())
		require.True(t, limited, "%v", err)
		require.Equal(t, 3*time.Second, d)
		require.EqualValues(t, 1, sim.Stats().ByRoute[runRoute])
	})
	t.Run("the budget follows GitHub's headers and is low near the end", func(t *testing.T) {
		t.Parallel()
		sim, client, budget := startWith(t, ghsim.Config{BuildDuration: time.Hour, RateLimit: 10})
		_, err := client.Releases(t.Context())
		require.NoError(t, err)
		r := budget.Rates()[ghclient.BucketInstallation]
		require.Equal(t, 10, r.Limit)
		require.Equal(t, 9, r.Remaining)
		require.True(t, r.Reset.After(time.Now()))
		require.False(t, low(t, budget, ghclient.BucketInstallation, time.Now()))
		for range 8 {
			_, err := client.Releases(t.Context())
			require.NoError(t, err)
		}
		require.Equal(t, 1, budget.Rates()[ghclient.BucketInstallation].Remaining)
		reset, deferred := budget.Defer(t.Context(), ghclient.BucketInstallation, "test", time.Now())
		require.True(t, deferred)
		require.Equal(t, r.Reset, reset, "says when it renews")
		require.EqualValues(t, 1, budget.Deferred()["test"], "a deferral is counted")
		require.False(t, low(t, budget, ghclient.BucketInstallation, r.Reset), "renewed at the reset")
		require.False(t, low(t, budget, ghclient.BucketApp, time.Now()), "the App's own budget is apart")

		_, err = client.Releases(t.Context())
		require.NoError(t, err)
		before := sim.Stats().TotalRequests
		_, err = client.Releases(t.Context())
		_, limited := ghclient.RetryAfter(err, time.Now())
		require.True(t, limited, "%v", err)
		require.Equal(t, before, sim.Stats().TotalRequests, "go-github waits for the reset without asking")
	})
}

// A read whose answer never comes is given up after a while and tried
// again. The first call to the run hangs in the network, before GitHub.
func TestMiddlewareRetriesAHungRead(t *testing.T) {
	t.Parallel()
	sim, err := ghsim.New(ghsim.Config{BuildDuration: time.Hour})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })

	target, err := url.Parse(sim.URL())
	require.NoError(t, err)
	var hung atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "/actions/runs/") && hung.Add(1) == 1 {
			<-r.Context().Done() // the caller gives up
			return nil, r.Context().Err()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)

	creator := githubapp.NewClientCreator(front.URL+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM(),
		githubapp.WithClientMiddleware(ghclient.Middleware(ghclient.NewBudget())))
	client := ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main"})
	ref, err := client.Dispatch(t.Context(), inputs("01a21cf6-92a5-792f-96bb-2a01ef022348"))
	require.NoError(t, err)
	run, err := client.Run(t.Context(), ref.ID)
	require.NoError(t, err)
	require.Equal(t, ref.ID, run.ID)
	require.EqualValues(t, 2, hung.Load(), "tried twice")
	require.EqualValues(t, 1, sim.Stats().ByRoute[runRoute], "the hung try never reached GitHub")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
