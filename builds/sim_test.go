package builds_test

import (
	"net"
	"testing"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// onSim is a service on a SQLite store and a ghsim with the release
// v0.2.0, with the client creator that reaches the simulator as the App.
type onSim struct {
	svc     *builds.Service
	st      store.Store
	sim     *ghsim.Server
	creator githubapp.ClientCreator
}

// newOnSim starts ghsim and a service with cfg, completed with the default
// catalog, naming and workflow.
func newOnSim(t *testing.T, cfg builds.Config) onSim {
	t.Helper()
	sim := startSim(t)
	st := storetest.SQLite(t)
	svc, creator := serviceOn(sim.URL(), sim, st, cfg)
	return onSim{svc: svc, st: st, sim: sim, creator: creator}
}

// startSim starts a ghsim with the release v0.2.0.
func startSim(t *testing.T) *ghsim.Server {
	t.Helper()
	sim, err := ghsim.New(ghsim.Config{Releases: []string{"v0.2.0"}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// serviceOn is a service with cfg on st, reaching the simulator as its App
// at base (its URL, or a proxy's in front of it).
func serviceOn(base string, sim *ghsim.Server, st builds.Store, cfg builds.Config) (*builds.Service, githubapp.ClientCreator) {
	creator := githubapp.NewClientCreator(base+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM())
	cfg.Catalog, cfg.Naming, cfg.Workflow = kernel.DefaultCatalog(), kernel.DefaultNaming(), "driver-build.yml"
	gh := ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main"})
	return builds.New(cfg, st, gh), creator
}
