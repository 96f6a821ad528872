// Package app wires the build-service: config -> store -> GitHub client ->
// HTTP server -> background jobs, and shuts them down in reverse order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/riverqueue/river"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/dashboard"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/listing"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/sqlite"
)

// jobTimeout bounds one job: a dispatch, a poll, a sweep, a refresh.
const jobTimeout = 2 * time.Minute

// maxHeaderBytes bounds a request's headers; net/http answers 431 beyond.
const maxHeaderBytes = 64 << 10

// App is a running build-service.
type App struct {
	svc        *builds.Service
	conns      conns
	audit      *handlers.AuditLog
	stopRescue func()
	store      store.Store
	jobs       store.Jobs
	server     *http.Server
	served     chan error
	ownsDB     bool
}

// Deps are what a caller may hand in instead of having them made from the
// config: tests bring their own store, everyone brings the listener.
type Deps struct {
	Listener net.Listener
	Store    store.Store // nil: opened from cfg, and closed by Close
}

// OpenStore opens Postgres when DatabaseURL is a postgres URL and the
// embedded SQLite store in DataDir when it is empty.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	switch u := cfg.DatabaseURL; {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		st, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return st, nil
	case u == "":
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "driverbuild.db"))
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return nil, errors.New("DATABASE_URL must be a postgres:// or postgresql:// URL; leave it empty for the embedded SQLite store")
	}
}

// Start validates the config, opens what it needs, and serves on
// d.Listener until Close.
func Start(ctx context.Context, cfg Config, d Deps) (*App, error) {
	log := zerolog.Ctx(ctx)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	catalog, _ := cfg.Catalog() // validated above
	access := cfg.Access()
	if access.Anonymous || access.Open {
		log.Warn().Msg("loaders need no token: anyone who reaches this port can dispatch builds (api.allow_anonymous or -dev)")
	}
	if len(cfg.API.Tokens) > 0 {
		log.Warn().Int("tokens", len(cfg.API.Tokens)).Msg("api.tokens holds plain tokens: move them to api.clients as hashes (build-service hash-token prints one)")
	}

	a := &App{store: d.Store, served: make(chan error, 1)}
	if a.store == nil {
		st, err := OpenStore(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		a.store, a.ownsDB = st, true
	}

	// No HTTP cache: conditional requests are made by hand, with the ETags
	// kept in the database so that they survive restarts.
	budget := ghclient.NewBudget()
	creator := githubapp.NewClientCreator(cfg.GitHub.V3APIURL, cfg.GitHub.V4APIURL,
		cfg.GitHub.App.IntegrationID, []byte(cfg.GitHub.App.PrivateKey),
		githubapp.WithClientUserAgent("driverbuild"),
		githubapp.WithClientTimeout(time.Minute), // the retries of one call; each try has its own bound
		githubapp.WithClientMiddleware(ghclient.Middleware(budget)),
	)
	gh := ghclient.New(creator, ghclient.Repo{
		Owner: cfg.Repository.Owner, Name: cfg.Repository.Name, Workflow: cfg.Repository.Workflow,
		Ref: cfg.Repository.Ref, InstallationID: cfg.Repository.InstallationID, WebURL: cfg.webURL(),
	})
	metrics := handlers.NewMetrics()
	metrics.ReleaseAssets(a.store.ReleaseAssetCounts)
	metrics.GitHubBudget(budget)
	var svc *builds.Service
	kj := cfg.KernelsJSON
	lister := listing.New(listing.Config{
		Enabled: kj.Enabled, Catalog: catalog, Base: cfg.Repository.Ref, Path: kj.Path,
		MergeMethod: kj.MergeMethod, BatchWindow: kj.BatchWindow, RetryDelay: cfg.Builds.RetryDelay, Budget: budget,
		Apply: func(ctx context.Context, d *builds.Delivery, fn func(store.Tx) error) error {
			return svc.Apply(ctx, d, fn)
		},
	}, a.store, gh, &listing.Checks{GitHub: gh, Fallback: kj.RequiredChecks})
	svc = builds.New(builds.Config{
		Catalog: catalog, Naming: cfg.Packages, Workflow: cfg.Repository.Workflow,
		Cooldown: cfg.Builds.Cooldown, Timeout: cfg.Builds.Timeout, RetryDelay: cfg.Builds.RetryDelay,
		PollInterval: cfg.Builds.PollInterval, Events: handlers.Events(), OnFinish: metrics.BuildFinished,
		Budget: budget, OnDone: lister.BuildDone,
	}, a.store, gh)

	a.svc = svc

	// The index is filled before the first request is served, so a package
	// that exists is found. GitHub being down must not stop the service:
	// it answers 503 for unread releases and keeps trying in the
	// background (the periodic refresh may run on another replica).
	refreshCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := svc.RefreshAll(refreshCtx); err != nil {
		log.Warn().Err(err).Msg("initial release index refresh failed; retrying in the background")
		svc.Go(ctx, func(ctx context.Context) { refreshUntilDone(ctx, svc, 10*time.Second) })
	}
	cancel()
	// Requests for packages that exist are answered from memory: what the
	// refresh just stored, then what any replica changes.
	if err := svc.LoadAssets(ctx); err != nil {
		log.Warn().Err(err).Msg("load the asset index into memory; requests read the database until it changes")
	}
	svc.Go(ctx, func(ctx context.Context) { _ = svc.WatchAssets(ctx) })

	workers := river.NewWorkers()
	periods := builds.Periods{
		Poll: cfg.Builds.PollInterval, Sweep: cfg.Builds.PollInterval, Refresh: cfg.Builds.IndexRefresh,
		Redeliver: cfg.Builds.RedeliverInterval,
	}
	periodic := svc.Register(workers, periods)
	periodic = append(periodic, lister.Register(workers, kj.ReconcileInterval)...)
	jobs, err := a.store.NewJobs(&river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 20}, listing.Queue: {MaxWorkers: listing.QueueWorkers}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		FetchCooldown:     50 * time.Millisecond,
		FetchPollInterval: 250 * time.Millisecond,
		JobTimeout:        jobTimeout,
		// A job that was running when a replica died runs again soon, not
		// River's default hour later: a queued build waits on it.
		RescueStuckJobsAfter: jobTimeout + time.Minute,
		Logger:               slog.New(zerolog.NewSlogHandler(log.Level(zerolog.WarnLevel))),
	})
	if err != nil {
		a.closeStore()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	a.jobs = jobs
	// Not ctx: its cancellation would cancel running jobs at once, and a
	// dispatch cut off in flight may have started a run; Close stops them
	// gracefully.
	if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		a.closeStore()
		return nil, fmt.Errorf("start jobs: %w", err)
	}

	rescueCtx, stopRescue := context.WithCancel(context.WithoutCancel(ctx))
	rescued := make(chan struct{})
	a.stopRescue = func() { stopRescue(); <-rescued }
	go func() { defer close(rescued); rescue(rescueCtx, svc, periods) }()

	base := handlers.Base{Observer: svc, Lister: lister, Repo: cfg.Repository.Owner + "/" + cfg.Repository.Name}
	guard, _ := handlers.NewAccess(access) // validated above
	api := http.NewServeMux()
	a.audit = handlers.NewAuditLog(a.store, *log)
	(&handlers.API{Builder: svc, Store: batchedAudit{a.store, a.audit}, Audit: a.store, Access: guard, Metrics: metrics, Now: time.Now,
		Dashboard: dashboard.New(a.store, base.Repo, kj.Enabled, time.Now), KernelsJSON: kj.Enabled}).Register(api)
	webhooks := &handlers.WebhookEndpoint{Secret: cfg.GitHub.App.WebhookSecret, Base: base, Deliveries: a.store, Metrics: metrics}
	mux := http.NewServeMux()
	// The webhook endpoint logs for itself: anyone can reach it, and an
	// access line per refused request would let them fill the disk.
	mux.Handle(githubapp.DefaultWebhookRoute, hlog.NewHandler(*log)(hlog.RequestIDHandler("request_id", "X-Request-Id")(webhooks.Handler())))
	mux.Handle("/", withLogging(*log, api))
	a.server = &http.Server{
		Handler:           mux,
		ConnState:         a.conns.track,
		ReadHeaderTimeout: 10 * time.Second,
		// GitHub's and the loaders' headers take a few kB; the default
		// 1 MB would let anyone make each request cost megabytes.
		MaxHeaderBytes: maxHeaderBytes,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go func() { a.served <- a.server.Serve(d.Listener) }()
	log.Info().Str("addr", d.Listener.Addr().String()).Str("repo", base.Repo).Msg("build-service listening")
	return a, nil
}

// withLogging puts the logger into each request's context, with the
// request's id (also answered as X-Request-Id), and logs an access line
// per request: at debug for the loaders' own calls that did not fail,
// which metrics count and (POST /build) the audit log records, so that a
// fleet booting and polling does not write a line per request.
func withLogging(log zerolog.Logger, next http.Handler) http.Handler {
	h := hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		ev := hlog.FromRequest(r).Info()
		switch {
		case status >= 500:
			ev = hlog.FromRequest(r).Error()
		case loaderCall(r):
			ev = hlog.FromRequest(r).Debug()
		}
		ev.Str("method", clipped(r.Method)).Str("path", clipped(r.URL.Path)).Int("status", status).Dur("duration", d).Msg("request")
	})(next)
	h = hlog.RequestIDHandler("request_id", "X-Request-Id")(h)
	return hlog.NewHandler(log)(h)
}

func loaderCall(r *http.Request) bool {
	return (r.Method == http.MethodPost && r.URL.Path == "/build") ||
		(r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/status/"))
}

// clipped bounds what a client's request line puts in the log.
func clipped(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// refreshUntilDone retries the release index refresh until one succeeds.
func refreshUntilDone(ctx context.Context, svc *builds.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := svc.RefreshAll(ctx); err == nil {
			zerolog.Ctx(ctx).Info().Msg("release index refreshed")
			return
		}
	}
}

// rescue runs svc.Rescue on this replica until ctx ends. Beside it, once,
// it asks GitHub to redeliver the webhooks that failed while the process
// was down: after a crash, River's leadership stays with the dead process
// for a while, and with it the periodic redelivery and poll, so a build
// whose end was announced meanwhile would wait for them. The rescue does
// not wait for that: the listing of an hour of deliveries may take long,
// longest when GitHub is slow, and a build whose dispatch died with the
// process waits on the rescue.
func rescue(ctx context.Context, svc *builds.Service, p builds.Periods) {
	log := zerolog.Ctx(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if n, err := svc.Redeliver(ctx, time.Now().Add(-p.RedeliverWindow())); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("redeliver the webhooks missed while down")
		} else if n > 0 {
			log.Info().Int("deliveries", n).Msg("asked GitHub to redeliver the webhooks missed while down")
		}
	})
	t := time.NewTicker(svc.RescueEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := svc.Rescue(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("rescue queued builds")
		}
		if n > 0 {
			log.Info().Int("builds", n).Msg("took over queued builds whose dispatch nobody held")
		}
	}
}

// Close stops serving, lets running jobs finish (cancelling them when ctx
// ends first), and closes the store.
func (a *App) Close(ctx context.Context) error {
	a.stopRescue()
	errs := []error{a.server.Shutdown(ctx)}
	if err := <-a.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	// The audit rows are written while the jobs finish: a database that
	// is away must not take the jobs' share of the deadline.
	audited := make(chan error, 1)
	go func() { audited <- a.audit.Close(ctx) }()
	if err := a.jobs.Stop(ctx); err != nil {
		cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		errs = append(errs, err, a.jobs.StopAndCancel(cancelCtx))
		cancel()
	}
	errs = append(errs, <-audited)
	a.svc.Stop()
	if a.ownsDB {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}

// batchedAudit is the store, with audit rows written by an AuditLog.
type batchedAudit struct {
	store.Store
	log *handlers.AuditLog
}

func (b batchedAudit) RequestRecord(ctx context.Context, r store.Request) error {
	return b.log.RequestRecord(ctx, r)
}

func (a *App) closeStore() {
	a.svc.Stop()
	if a.ownsDB {
		_ = a.store.Close()
	}
}

// Run serves until ctx is done, then shuts down within 20 seconds.
func Run(ctx context.Context, cfg Config, ln net.Listener) error {
	a, err := Start(ctx, cfg, Deps{Listener: ln})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-a.served:
		a.served <- err // for Close
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	zerolog.Ctx(ctx).Info().Msg("shutting down")
	return a.Close(shutdown)
}

// Kill stops at once, as a crash would, but leaves the store open for the
// caller that owns it: connections are cut and running jobs cancelled.
// Tests use it to check that a restart loses nothing.
func (a *App) Kill() {
	a.stopRescue()
	_ = a.server.Close()
	<-a.served
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Close cut the connections but does not wait for their handlers:
	// nothing of this process runs after Kill.
	a.conns.wait(ctx)
	_ = a.audit.Close(ctx) // what a crash would lose is not what these tests are about
	_ = a.jobs.StopAndCancel(ctx)
	a.svc.Stop()
	if a.ownsDB {
		_ = a.store.Close()
	}
}
