package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// soakCached is how many packages the soak's cached requests cycle over.
const soakCached = 4

// soak: a database of -finished ended builds and -active running ones,
// and -connections clients for -duration: six in ten requests ask for a
// package that exists, one joins a running build, three poll a status.
// Measured in ten windows; the first two are the warm-up.
var soakScenario = scenario{
	defaults: Options{
		Duration: 5 * time.Minute, Connections: 16, Finished: 100_000, Active: 1_000,
		BuildDuration: time.Second,
		// The seeded active builds have no runs on ghsim: the poller would
		// only find them gone. Polling has its own scenario, api-calls.
		PollInterval: time.Hour,
	},
	run: func(ctx context.Context, r *runner) (Figures, error) {
		if r.external() {
			return nil, fmt.Errorf("soak seeds the service's database before it starts: it cannot target a running service")
		}
		var seeded seededBuilds
		r.logf("soak: seeding %d finished and %d active builds", r.o.Finished, r.o.Active)
		e, err := r.env(ctx, func(o *EnvOptions) {
			o.Seed = func(ctx context.Context, databaseURL, dataDir string) (err error) {
				seeded, err = seed(ctx, databaseURL, dataDir, r.o.Finished, r.o.Active)
				return err
			}
		})
		if err != nil {
			return nil, err
		}
		client := newClient(r.o.Connections)
		var cached []string
		for i := range soakCached {
			k := r.kernel(i)
			id, err := requestBuild(ctx, client, e.ServiceURL, k)
			if err == nil {
				_, err = awaitDone(ctx, client, e.ServiceURL, id, 50*time.Millisecond)
			}
			if err != nil {
				return nil, err
			}
			cached = append(cached, buildBody(k))
		}
		call := func(worker, i int) *http.Request {
			switch n := rand.IntN(10); {
			case n < 6:
				return postBuild(e.ServiceURL, cached[(worker+i)%len(cached)])
			case n == 6:
				return postBuild(e.ServiceURL, buildBody(seeded.activeKernels[rand.IntN(len(seeded.activeKernels))]))
			case n < 9:
				req, _ := http.NewRequest(http.MethodGet, e.ServiceURL+"/status/"+seeded.finished[rand.IntN(len(seeded.finished))], nil)
				return req
			default:
				req, _ := http.NewRequest(http.MethodGet, e.ServiceURL+"/status/"+seeded.active[rand.IntN(len(seeded.active))], nil)
				return req
			}
		}
		ok := func(code int) bool { return code < 300 }

		const windows, warm = 10, 2
		window := max(r.o.Duration/windows, 100*time.Millisecond)
		var (
			p99, heap, goroutines []float64
			rssMax                float64
			requests, failures    int
		)
		for w := range windows {
			res := closedLoop(ctx, client, r.o.Connections, window, call, ok)
			m, err := scrape(ctx, e.ServiceURL)
			if err != nil {
				return nil, err
			}
			r.logf("soak window %d: %.0f req/s, p99 %.1f ms, rss %.0f MB, heap %.0f MB, %v goroutines",
				w+1, res.rps(), res.lat.quantile(0.99), m.RSSMB, m.HeapMB, m.Goroutines)
			rssMax = max(rssMax, m.RSSMB)
			if w < warm {
				continue
			}
			p99 = append(p99, res.lat.quantile(0.99))
			heap, goroutines = append(heap, m.HeapMB), append(goroutines, m.Goroutines)
			requests, failures = requests+res.requests, failures+res.failures
		}
		half := len(p99) / 2
		return Figures{
			"rss_mb_max": rssMax, "rps": float64(requests) / (window * (windows - warm)).Seconds(), "failures": float64(failures),
			"p99_ms_first": p99[0], "p99_ms_last": p99[len(p99)-1], "p99_spread": slices.Max(p99) / slices.Min(p99),
			// Growth compares the second half of the measured windows with
			// the first: a leak shows as a higher peak, GC's sawtooth does not.
			"heap_growth":       slices.Max(heap[half:]) / slices.Max(heap[:half]),
			"goroutines_growth": slices.Max(goroutines[half:]) - slices.Max(goroutines[:half]),
		}, nil
	},
	targets: func(Options) []Target {
		return []Target{
			{Figure: "rss_mb_max", Op: "<=", Value: 150}, {Figure: "heap_growth", Op: "<=", Value: 1.25},
			{Figure: "goroutines_growth", Op: "<=", Value: 10}, {Figure: "p99_spread", Op: "<=", Value: 2},
			{Figure: "failures", Op: "==", Value: 0},
		}
	},
}

// seededBuilds are the soak's builds: ids to poll, kernels to join.
type seededBuilds struct {
	finished, active []string
	activeKernels    []string
}

// seed writes finished and active builds through the store, as the
// service would have over months, in transactions of a thousand.
func seed(ctx context.Context, databaseURL, dataDir string, finished, active int) (seededBuilds, error) {
	var out seededBuilds
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return out, err
	}
	st, err := app.OpenStore(ctx, app.Config{DatabaseURL: databaseURL, DataDir: dataDir})
	if err != nil {
		return out, err
	}
	defer st.Close()
	catalog, naming := kernel.DefaultCatalog(), kernel.DefaultNaming()
	now := time.Now().UTC()
	const batch = 1000
	total := finished + active
	for from := 0; from < total; from += batch {
		err := st.InTx(ctx, func(tx store.Tx) error {
			for i := from; i < min(from+batch, total); i++ {
				req, err := catalog.Normalize(kernel.Request{
					KernelVersion: fmt.Sprintf("5.15.0-%d-soak", i), Architecture: "x86_64",
					Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v0.1.2",
				})
				if err != nil {
					return err
				}
				pkg, err := catalog.PackageName(naming, req)
				if err != nil {
					return err
				}
				id := uuid.Must(uuid.NewV7()).String()
				if _, _, err := tx.BuildCreate(ctx, store.BuildCreateParams{
					ID: id, CacheKey: req.CacheKey(), Request: req, Package: pkg, Now: now, IndexReadAt: now,
				}); err != nil {
					return err
				}
				if _, _, err := tx.BuildTransition(ctx, lifecycle.Transition{
					ID: id, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, RunID: int64(1_000_000 + i), Now: now,
				}); err != nil {
					return err
				}
				if i >= finished {
					out.active, out.activeKernels = append(out.active, id), append(out.activeKernels, req.KernelVersion)
					continue
				}
				if _, _, err := tx.BuildTransition(ctx, lifecycle.Transition{
					ID: id, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: now,
					DownloadURL: "https://example.invalid/" + pkg, Digest: "sha256:" + fmt.Sprintf("%064x", i),
				}); err != nil {
					return err
				}
				out.finished = append(out.finished, id)
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("seed builds: %w", err)
		}
	}
	return out, nil
}
