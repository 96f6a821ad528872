package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// Until a release's assets have been read from GitHub, a request for it
// may be for a package that exists: the answer is 503 (retry), neither 400
// (not the client's fault) nor a needless build.
func TestIndexNotReadyAnswers503(t *testing.T) {
	t.Parallel()
	for name, route := range map[string]string{
		"releases unread": "GET /api/v3/repos/{owner}/{repo}/releases",
		"assets unread":   "GET /api/v3/repos/{owner}/{repo}/releases/{release_id}/assets",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := e2e.Start(t, e2e.Options{
				Faults:    []ghsim.Fault{{Route: route, Status: http.StatusBadGateway, Count: 8}},
				Configure: func(c *app.Config) { c.Builds.IndexRefresh = 300 * time.Millisecond },
			})
			resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(request("6.8.0-1012-aws")))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			require.Zero(t, env.Sim.Stats().Dispatches)

			require.Eventually(t, func() bool {
				code, _ := postQuiet(env, request("6.8.0-1012-aws"))
				return code == http.StatusAccepted
			}, 20*time.Second, 50*time.Millisecond, "served once a refresh has read the releases")
		})
	}
}

// A run that claims success without uploading the package ends the build
// as package_missing, after the confirm job has looked again.
func TestPackageMissing(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Artifact: func(map[string]string) (string, []byte, string, error) {
		return "something-else.deb", []byte("not the package"), "", nil
	}})
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "error", final.Status)
	require.Equal(t, "package_missing", final.Reason)
}

// A crash after GitHub accepted a dispatch but before it was recorded
// leaves a queued build whose run is going on. With every webhook lost
// too, the poller finds the run by its run-name and follows it to the end.
func TestPollerAdoptsARunDispatchedBeforeACrash(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	env.Sim.PauseWebhooks(true)
	ctx := t.Context()

	id := uuid.Must(uuid.NewV7()).String()
	req := kernel.Request{KernelVersion: "6.8.0-1012-aws", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
	b, created, err := env.Store.BuildCreate(ctx, store.BuildCreateParams{
		ID: id, CacheKey: req.CacheKey(), Request: req, Package: "riptides-driver-ubuntu-" + req.KernelVersion + "_v0.1.2_amd64.deb",
		Now: time.Now(),
	})
	require.NoError(t, err)
	require.True(t, created)
	gh := ghclient.New(githubapp.NewClientCreator(env.Config.GitHub.V3APIURL, "", env.Config.GitHub.App.IntegrationID, []byte(env.Config.GitHub.App.PrivateKey)),
		ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main"})
	_, err = gh.Dispatch(ctx, map[string]string{
		"kernel_version": req.KernelVersion, "architecture": "x86_64", "distribution": "ubuntu",
		"distro_version": "24.04", "driver_version": "v0.1.2", "build_id": b.ID,
	})
	require.NoError(t, err)

	waitFor(t, env, b.ID, terminal)
	final := getStatus(t, env, b.ID)
	require.Equal(t, "done", final.Status, final.Reason)
	require.NotEmpty(t, final.RunURL)
	src := sources(t, env, b.ID)
	require.Equal(t, lifecycle.SourceAPI, src[0], "created")
	for _, s := range src[1:] {
		require.Equal(t, lifecycle.SourcePoller, s, "every move after creation: %v", src)
	}
	require.EqualValues(t, 1, env.Sim.Stats().Dispatches, "the service did not dispatch again")
}

// Webhooks that failed while the service could not take them are asked
// for again: the build ends by its webhooks, with the poller out of play.
func TestFailedWebhooksAreRedelivered(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
		c.Builds.PollInterval = time.Hour
		c.Builds.RedeliverInterval = 300 * time.Millisecond
	}})
	env.Sim.PauseWebhooks(true)
	code, accepted := post(t, env, request("6.8.0-1012-aws"))
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool { return env.Sim.Stats().Conclusions["success"] == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "in_progress", getStatus(t, env, accepted.BuildID).Status, "nothing told the service yet")

	env.Sim.PauseWebhooks(false)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
	src := sources(t, env, accepted.BuildID)
	require.Equal(t, lifecycle.SourceWebhook, src[len(src)-1])
}

// A dispatch attempt that died with its replica leaves a queued build, a
// lease and a job River would rescue only minutes later. Once the lease
// ends, a replica takes the build over: it looks for the run the attempt
// may have started and, finding none, dispatches it, once.
func TestRescueTakesOverADispatchThatDied(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		t.Parallel()
		env := e2e.Start(t, e2e.Options{Store: open})
		ctx := t.Context()
		req := kernel.Request{KernelVersion: "6.8.0-1012-aws", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
		now := time.Now()
		b, created, err := env.Store.BuildCreate(ctx, store.BuildCreateParams{
			ID: uuid.Must(uuid.NewV7()).String(), CacheKey: req.CacheKey(), Request: req,
			Package: "riptides-driver-ubuntu-" + req.KernelVersion + "_v0.1.2_amd64.deb", Now: now,
		})
		require.NoError(t, err)
		require.True(t, created)
		lease, err := env.Store.DispatchLease(ctx, store.DispatchLeaseParams{BuildID: b.ID, Term: 2 * time.Second})
		require.NoError(t, err)
		require.True(t, lease.Taken)

		time.Sleep(time.Second)
		require.Equal(t, "queued", getStatus(t, env, b.ID).Status, "nobody dispatches while the lease holds")
		require.Zero(t, env.Sim.Stats().Dispatches)

		waitFor(t, env, b.ID, terminal)
		require.Equal(t, "done", getStatus(t, env, b.ID).Status)
		require.EqualValues(t, 1, env.Sim.Stats().Dispatches)
		src := sources(t, env, b.ID)
		require.Equal(t, lifecycle.SourceAPI, src[0], "created")
		require.NotContains(t, src[1:], lifecycle.SourceAPI, "no dispatch job ran: the rescue dispatched")
	})
}
