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
	sim, err := ghsim.New(ghsim.Config{Releases: []string{"v0.2.0"}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })
	creator := githubapp.NewClientCreator(sim.URL()+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM())
	st := storetest.SQLite(t)
	cfg.Catalog, cfg.Naming, cfg.Workflow = kernel.DefaultCatalog(), kernel.DefaultNaming(), "driver-build.yml"
	svc := builds.New(cfg, st, ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main"}))
	return onSim{svc: svc, st: st, sim: sim, creator: creator}
}
