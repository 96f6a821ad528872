// Package e2e runs the build-service and ghsim as two real HTTP servers on
// loopback, for end-to-end tests of the service and of its clients.
package e2e

import (
	"context"
	"math"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// Options shape an environment; the zero value is a quick SQLite one.
type Options struct {
	// Store opens the service's database; default storetest.SQLite.
	Store func(t testing.TB) store.Store
	// BuildDuration of a simulated run; default 300ms.
	BuildDuration time.Duration
	// FailKernels fails the simulated builds of matching kernels.
	FailKernels *regexp.Regexp
	// RejectRunDetails makes ghsim refuse return_run_details.
	RejectRunDetails bool
	// RateLimit is ghsim's hourly API budget per bucket; default ghsim's.
	RateLimit int
	// Artifact replaces what a successful simulated build uploads.
	Artifact ghsim.ArtifactFunc
	// Faults are injected into ghsim before the service starts.
	Faults []ghsim.Fault
	// Chaos switches on ghsim's random faults.
	Chaos ghsim.Chaos
	// RunnerCommand replaces the simulated builds with a real command.
	RunnerCommand string
	// Configure adjusts the service's config after the defaults for tests.
	Configure func(*app.Config)
	// NoRateLimit lifts the per-client rate limit, for clients that ask
	// again at once where loaders wait as a 429's Retry-After says.
	NoRateLimit bool
	// Simulate adjusts the simulator's config.
	Simulate func(*ghsim.Config)
}

// Env is a running service and simulator.
type Env struct {
	ServiceURL string
	// ReleaseURL is the prefix before /{driver_version}/{package}.
	ReleaseURL string
	Sim        *ghsim.Server
	Store      store.Store
	Config     app.Config

	addr string
	app  *app.App
}

// Start runs ghsim and the build-service for the test, and stops both when
// it ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Store == nil {
		o.Store = storetest.SQLite
	}
	if o.BuildDuration == 0 {
		o.BuildDuration = 300 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &Env{addr: ln.Addr().String(), Store: o.Store(t)}
	e.ServiceURL = "http://" + e.addr

	cfg := app.Defaults()
	catalog, err := cfg.Catalog()
	require.NoError(t, err)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if o.Artifact == nil {
		o.Artifact = ghsim.PackageArtifact(catalog, cfg.Packages)
	}
	simCfg := ghsim.Config{
		WebhookURL: e.ServiceURL + "/api/github/hook", Releases: ghsim.DefaultReleases,
		BuildDuration: o.BuildDuration, FailKernels: o.FailKernels, RejectRunDetails: o.RejectRunDetails,
		RateLimit: o.RateLimit, CheckDuration: 100 * time.Millisecond,
		Artifact: o.Artifact, Chaos: o.Chaos, RunnerCommand: o.RunnerCommand,
	}
	if o.Simulate != nil {
		o.Simulate(&simCfg)
	}
	sim, err := ghsim.New(simCfg)
	require.NoError(t, err)
	for _, f := range o.Faults {
		require.NoError(t, sim.InjectFault(f))
	}
	sim.Start(simLn)
	t.Cleanup(func() { _ = sim.Close() })
	e.Sim = sim
	e.ReleaseURL = sim.URL() + "/" + cfg.Repository.Owner + "/" + cfg.Repository.Name + "/releases/download"

	cfg = app.SimConfig(cfg, sim)
	cfg.Builds.PollInterval = 500 * time.Millisecond
	cfg.Builds.IndexRefresh = time.Minute
	cfg.Builds.RetryDelay = 200 * time.Millisecond
	if o.NoRateLimit {
		cfg.API.RateLimit.PerSecond, cfg.API.RateLimit.Burst = math.MaxFloat64, math.MaxInt32
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	e.Config = cfg
	e.start(t, ln)
	return e
}

func (e *Env) start(t testing.TB, ln net.Listener) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	a, err := app.Start(log.WithContext(context.Background()), e.Config, app.Deps{Listener: ln, Store: e.Store})
	require.NoError(t, err)
	e.app = a
	t.Cleanup(func() {
		if e.app == a {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = a.Close(ctx)
		}
	})
}

// Kill stops the service at once: the listener and open connections close,
// running jobs are cancelled. Webhooks sent meanwhile are lost, as they
// would be for a crashed process.
func (e *Env) Kill(t testing.TB) {
	t.Helper()
	e.app.Kill()
	e.app = nil
}

// Restart starts the service again on the same address and database.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	var ln net.Listener
	require.Eventually(t, func() bool {
		var err error
		ln, err = net.Listen("tcp", e.addr)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, "listen again on %s", e.addr)
	e.start(t, ln)
}

// PackageURL is where the loader downloads a package of a driver version.
func (e *Env) PackageURL(driverVersion, pkg string) string {
	return strings.Join([]string{e.ReleaseURL, driverVersion, pkg}, "/")
}
