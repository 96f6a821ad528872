package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riptides/driverbuild/ghsim"
)

// warmUp is how long each side is driven before it is measured: the
// connections are open and the service's caches are full.
const warmUp = time.Second

// cached: a package that exists, asked for over and over by -connections
// clients, against the bare handler and then the service, with the same
// client in the same run. The service must make no GitHub call for it.
var cachedScenario = scenario{
	defaults: Options{Duration: 10 * time.Second, Connections: 32},
	run: func(ctx context.Context, r *runner) (Figures, error) {
		e, err := r.env(ctx, nil)
		if err != nil {
			return nil, err
		}
		client := newClient(r.o.Connections)
		k := r.kernel(0)
		id, err := requestBuild(ctx, client, e.ServiceURL, k)
		if err != nil {
			return nil, err
		}
		if _, err := awaitDone(ctx, client, e.ServiceURL, id, 50*time.Millisecond); err != nil {
			return nil, err
		}
		body := buildBody(k)
		ok := func(code int) bool { return code == http.StatusOK }
		drive := func(url string, d time.Duration) loadResult {
			return closedLoop(ctx, client, r.o.Connections, d, func(int, int) *http.Request { return postBuild(url, body) }, ok)
		}
		drive(e.BareURL, warmUp)
		bare := drive(e.BareURL, r.o.Duration)
		drive(e.ServiceURL, warmUp)
		before, err := simStats(ctx, e.GhsimURL)
		if err != nil {
			return nil, err
		}
		svc := drive(e.ServiceURL, r.o.Duration)
		after, err := simStats(ctx, e.GhsimURL)
		if err != nil {
			return nil, err
		}
		return Figures{
			"bare_rps": bare.rps(), "service_rps": svc.rps(), "ratio": svc.rps() / bare.rps(),
			"bare_p99_ms": bare.lat.quantile(0.99), "service_p99_ms": svc.lat.quantile(0.99),
			"failures": float64(bare.failures + svc.failures), "github_api_calls": float64(apiCalls(after) - apiCalls(before)),
		}, nil
	},
	targets: func(Options) []Target {
		return []Target{{Figure: "ratio", Op: ">=", Value: 0.5}, {Figure: "github_api_calls", Op: "==", Value: 0}, {Figure: "failures", Op: "==", Value: 0}}
	},
}

// bootstorm: -clients nodes boot at once on a kernel nobody built, each
// on a connection of its own: it posts, then polls /status every second
// until done. The same crowd posts once to the bare handler first.
var bootstormScenario = scenario{
	defaults: Options{Clients: 2000, BuildDuration: 5 * time.Second},
	run: func(ctx context.Context, r *runner) (Figures, error) {
		e, err := r.env(ctx, nil)
		if err != nil {
			return nil, err
		}
		n := r.o.Clients
		bareLat, _, err := storm(ctx, n, e.BareURL, buildBody(r.kernel(0)))
		if err != nil {
			return nil, fmt.Errorf("bare handler: %w", err)
		}
		before, err := simStats(ctx, e.GhsimURL)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		svcLat, ids, err := storm(ctx, n, e.ServiceURL, buildBody(r.kernel(1)))
		if err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
		allDone := time.Since(start)
		after, err := simStats(ctx, e.GhsimURL)
		if err != nil {
			return nil, err
		}
		m, err := scrape(ctx, e.ServiceURL)
		if err != nil {
			return nil, err
		}
		bareP99, svcP99 := quantileMS(bareLat, 0.99), quantileMS(svcLat, 0.99)
		return Figures{
			"bare_post_p99_ms": bareP99, "service_post_p99_ms": svcP99, "ratio": svcP99 / bareP99,
			"service_post_p50_ms": quantileMS(svcLat, 0.5),
			"dispatches":          float64(after.Dispatches - before.Dispatches), "build_ids": float64(len(ids)),
			"seconds_to_all_done": allDone.Seconds(), "rss_mb_after": m.RSSMB,
		}, nil
	},
	targets: func(Options) []Target {
		return []Target{{Figure: "ratio", Op: "<=", Value: 2}, {Figure: "dispatches", Op: "==", Value: 1}, {Figure: "build_ids", Op: "==", Value: 1}}
	},
}

// storm has n clients post body to url at the same instant, each on its
// own connection, and poll the build they are given every second until
// it is done. It returns the first POSTs' latencies and the build ids
// answered; any failure or refusal is an error.
func storm(ctx context.Context, n int, url, body string) ([]time.Duration, map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := newClient(n)
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, n)
	var (
		mu   sync.Mutex
		ids  = map[string]int{}
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i := range n {
		ready.Add(1)
		wg.Go(func() {
			req := postBuild(url, body)
			ready.Done()
			<-gate
			t0 := time.Now()
			a, err := do(ctx, client, req)
			lat[i] = time.Since(t0)
			switch {
			case err != nil:
				fail(err)
				return
			case a.code == http.StatusOK && a.Status == "done":
				return
			case a.code != http.StatusAccepted:
				fail(fmt.Errorf("POST /build: %d %s %s", a.code, a.Status, a.Error))
				return
			}
			mu.Lock()
			ids[a.BuildID]++
			mu.Unlock()
			if _, err := awaitDone(ctx, client, url, a.BuildID, time.Second); err != nil {
				fail(err)
			}
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%d of %d clients failed, first: %w", len(errs), n, errs[0])
	}
	return lat, ids, nil
}

// statusPoll is how often status-latency's clients ask: the figures'
// resolution.
const statusPoll = 2 * time.Millisecond

// status-latency: -clients loops, each asking for a new kernel and
// polling its status every 2 ms; the tool relays ghsim's webhooks and
// times from the start of the completed delivery to the first answer done.
var statusLatencyScenario = scenario{
	defaults: Options{Duration: 30 * time.Second, Clients: 4, BuildDuration: 500 * time.Millisecond},
	run: func(ctx context.Context, r *runner) (Figures, error) {
		relay := &Relay{Listen: r.o.Relay}
		if r.external() {
			if r.o.Relay == "" {
				return nil, errors.New("status-latency against a running ghsim needs -relay ADDR, and ghsim's -webhook-url pointed at http://ADDR/api/github/hook")
			}
		}
		e, err := r.env(ctx, func(o *EnvOptions) { o.Relay = relay })
		if err != nil {
			return nil, err
		}
		if r.external() {
			if _, err := relay.Start(); err != nil {
				return nil, err
			}
			defer relay.Close()
		}
		client := newClient(2 * r.o.Clients)
		deadline := time.Now().Add(r.o.Duration)
		var (
			lat             latencies
			missing, failed atomic.Int64
			next            atomic.Int64
			wg              sync.WaitGroup
		)
		for range r.o.Clients {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					id, err := requestBuild(ctx, client, e.ServiceURL, r.kernel(int(next.Add(1))))
					if err != nil {
						failed.Add(1)
						r.logf("status-latency: %v", err)
						return
					}
					wait, cancel := context.WithTimeout(ctx, time.Minute)
					done, err := awaitDone(wait, client, e.ServiceURL, id, statusPoll)
					cancel()
					if err != nil {
						failed.Add(1)
						r.logf("status-latency: %v", err)
						continue
					}
					t0, ok := relay.Completed(id)
					if !ok {
						missing.Add(1) // done by the poller, with no completed delivery
						continue
					}
					lat.add(done.Sub(t0))
				}
			})
		}
		wg.Wait()
		if len(lat.d) == 0 {
			return nil, fmt.Errorf("no build was timed (%d failed)", failed.Load())
		}
		return Figures{
			"p50_ms": lat.quantile(0.5), "p99_ms": lat.quantile(0.99), "max_ms": lat.quantile(1),
			"builds": float64(len(lat.d)), "without_delivery": float64(missing.Load()), "failures": float64(failed.Load()),
		}, nil
	},
	targets: func(Options) []Target {
		return []Target{{Figure: "p99_ms", Op: "<=", Value: 50}, {Figure: "failures", Op: "==", Value: 0}}
	},
}

// api-calls: -builds on-demand builds, -clients at a time, counted on
// ghsim: first with webhooks, then (unless ghsim is a running one) with
// every webhook dropped, where the poller finds each build's end.
var apiCallsScenario = scenario{
	defaults: Options{Builds: 10, Clients: 5, BuildDuration: 3 * time.Second, PollInterval: time.Second},
	run: func(ctx context.Context, r *runner) (Figures, error) {
		f := Figures{"poll_interval_s": r.o.PollInterval.Seconds()}
		with, _, err := countCalls(ctx, r, false, f)
		if err != nil {
			return nil, fmt.Errorf("with webhooks: %w", err)
		}
		f["calls_per_build"] = with
		if r.external() {
			return f, nil
		}
		dropped, took, err := countCalls(ctx, r, true, nil)
		if err != nil {
			return nil, fmt.Errorf("webhooks dropped: %w", err)
		}
		budget := 3 + math.Ceil(took.Seconds()/r.o.PollInterval.Seconds())
		f["dropped_calls_per_build"], f["dropped_build_s"], f["dropped_budget"] = dropped, took.Seconds(), budget
		f["dropped_within_budget"] = 0
		if dropped <= budget {
			f["dropped_within_budget"] = 1
		}
		return f, nil
	},
	targets: func(o Options) []Target {
		t := []Target{{Figure: "calls_per_build", Op: "<=", Value: 3}}
		if o.ServiceURL == "" {
			t = append(t, Target{Figure: "dropped_within_budget", Op: "==", Value: 1})
		}
		return t
	},
}

// countCalls runs the builds and returns the GitHub API calls per build
// (the build path's: dispatch, runs, releases; the kernels.json loop's
// pull request for each new kernel is counted apart, as
// kernels_json_calls_per_build) and the builds' mean time from request
// to done; with byRoute set, it
// adds each route's calls per build there, as "calls /route".
func countCalls(ctx context.Context, r *runner, drop bool, byRoute Figures) (float64, time.Duration, error) {
	e, err := r.env(ctx, func(o *EnvOptions) { o.DropWebhooks = drop })
	if err != nil {
		return 0, 0, err
	}
	// The service's start (index refresh, redelivery) settles first.
	time.Sleep(time.Second)
	before, err := simStats(ctx, e.GhsimURL)
	if err != nil {
		return 0, 0, err
	}
	client := newClient(r.o.Clients)
	base := 0
	if drop {
		base = r.o.Builds
	}
	ids := make(chan string, r.o.Builds)
	var (
		next  atomic.Int64
		took  atomic.Int64
		errMu sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range r.o.Clients {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= r.o.Builds; i = int(next.Add(1)) {
				t0 := time.Now()
				id, err := requestBuild(ctx, client, e.ServiceURL, r.kernel(base+i))
				if err == nil {
					wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
					_, err = awaitDone(wait, client, e.ServiceURL, id, 50*time.Millisecond)
					cancel()
				}
				if err != nil {
					errMu.Lock()
					first = cmpErr(first, err)
					errMu.Unlock()
					return
				}
				took.Add(int64(time.Since(t0)))
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	if first != nil {
		return 0, 0, first
	}
	time.Sleep(500 * time.Millisecond) // a build's end may still be writing
	after, err := simStats(ctx, e.GhsimURL)
	if err != nil {
		return 0, 0, err
	}
	n := float64(r.o.Builds)
	if byRoute != nil {
		// The loop's calls are counted once every kernel's pull request
		// merged: it starts a few seconds after the build's end.
		wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		for id := range ids {
			if err := awaitListed(wait, client, e.ServiceURL, id, 100*time.Millisecond); err != nil {
				return 0, 0, err
			}
		}
		listed, err := simStats(ctx, e.GhsimURL)
		if err != nil {
			return 0, 0, err
		}
		// Each route as of the snapshot its figure is read at: the
		// build path's when the builds ended, the loop's once it settled.
		for _, st := range []struct {
			at    ghsim.Stats
			match func(string) bool
		}{{after, func(r string) bool { return !isListingCall(r) }}, {listed, isListingCall}} {
			for route, c := range st.at.ByRoute {
				if d := c - before.ByRoute[route]; d > 0 && isAPICall(route) && st.match(route) {
					byRoute["calls "+route] = float64(d) / n
				}
			}
		}
		byRoute["kernels_json_calls_per_build"] = float64(callsWhere(listed, isListingCall)-callsWhere(before, isListingCall)) / n
	}
	return float64(buildCalls(after)-buildCalls(before)) / n, time.Duration(float64(took.Load()) / n), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
