package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/ghsim"
)

// SimConfig points a configuration at a simulator.
func SimConfig(cfg Config, sim *ghsim.Server) Config {
	cfg.GitHub.WebURL = sim.URL() + "/"
	cfg.GitHub.V3APIURL = sim.URL() + "/api/v3/"
	cfg.GitHub.App.IntegrationID = sim.AppID()
	cfg.GitHub.App.PrivateKey = string(sim.PrivateKeyPEM())
	cfg.GitHub.App.WebhookSecret = sim.WebhookSecret()
	cfg.Repository.InstallationID = sim.InstallationID()
	cfg.API.AllowAnonymous = sim.ServiceConfig().API["allow_anonymous"]
	return cfg
}

// RunDev runs the service with an in-process GitHub simulator and a fresh
// embedded store, and prints what to try.
func RunDev(ctx context.Context, listen string, buildDuration time.Duration, out io.Writer) error {
	log := zerolog.Ctx(ctx)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen for the simulator: %w", err)
	}
	serviceURL := "http://" + dialable(ln.Addr())
	simLog := log.With().Str("component", "ghsim").Logger()
	cfg := Defaults()
	cfg.Dev = true
	catalog, _ := cfg.Catalog()
	sim, err := ghsim.New(ghsim.Config{
		Owner: cfg.Repository.Owner, Repo: cfg.Repository.Name,
		WebhookURL: serviceURL + "/api/github/hook", Releases: ghsim.DefaultReleases, BuildDuration: buildDuration,
		Artifact: ghsim.PackageArtifact(catalog, cfg.Packages), Logger: &simLog,
	})
	if err != nil {
		ln.Close()
		simLn.Close()
		return fmt.Errorf("simulator: %w", err)
	}
	sim.Start(simLn)
	defer sim.Close()

	cfg = SimConfig(cfg, sim)
	cfg.DataDir, err = os.MkdirTemp("", "driverbuild-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cfg.DataDir)

	token, _ := sim.InstallationToken()
	fmt.Fprint(out, devBanner(serviceURL, sim.URL(), token, cfg.DataDir, buildDuration))
	return Run(ctx, cfg, ln)
}

func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

func devBanner(service, sim, token, dataDir string, d time.Duration) string {
	return strings.NewReplacer("{svc}", service, "{sim}", sim, "{token}", token, "{data}", dataDir, "{d}", d.String()).Replace(`
driverbuild dev mode: embedded store in {data}, simulated GitHub at {sim}
(releases v0.1.0 and v0.1.2 of riptides/driver; a simulated build takes {d}).

Ask for a driver for a kernel nobody built yet:

  curl -s -X POST {svc}/build -H 'Content-Type: application/json' \
    -d '{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}'

Follow it (use the build_id from the answer):

  curl -s {svc}/status/BUILD_ID

Once it is done, the same POST answers 200 with the download_url at once,
and the status says where the kernel is on its way into kernels.json
("kernels_json": pending, pr_open, then merged). Watch the builds and the
kernels.json pull requests on the dashboard: {svc}/
Or the simulated repository itself (the token is good for an hour):

  curl -s '{sim}/api/v3/repos/riptides/driver/pulls?state=all' -H 'Authorization: Bearer {token}'
  curl -s {sim}/riptides/driver/raw/main/.github/kernels.json
  curl -s {sim}/_sim/stats    # counters, merges among them

`)
}
