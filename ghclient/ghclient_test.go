package ghclient_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
)

const dispatchRoute = "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"

type fixture struct {
	sim     *ghsim.Server
	client  *ghclient.Client
	gh      *github.Client // the same installation, for test setup
	release int64
}

func start(t *testing.T, cfg ghsim.Config, workflow string) *fixture {
	t.Helper()
	cfg.Releases = []string{"v0.1.2"}
	sim, err := ghsim.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })

	creator := githubapp.NewClientCreator(sim.URL()+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM())
	gh, err := creator.NewInstallationClient(sim.InstallationID())
	require.NoError(t, err)
	gh.UploadURL, err = url.Parse(sim.URL() + "/api/uploads/")
	require.NoError(t, err)
	rel, _, err := gh.Repositories.GetReleaseByTag(t.Context(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	return &fixture{
		sim:     sim,
		client:  ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: workflow, Ref: "main"}),
		gh:      gh,
		release: rel.GetID(),
	}
}

func (f *fixture) upload(t *testing.T, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(name), 0o600))
	file, err := os.Open(path)
	require.NoError(t, err)
	defer file.Close()
	_, _, err = f.gh.Repositories.UploadReleaseAsset(t.Context(), "riptides", "driver", f.release, &github.UploadOptions{Name: name}, file)
	require.NoError(t, err)
}

func names(as []ghclient.Asset) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func TestAssetsConditional(t *testing.T) {
	t.Parallel()
	f := start(t, ghsim.Config{}, "driver-build.yml")
	f.upload(t, "a.deb")

	assets, etag, notModified, err := f.client.Assets(t.Context(), f.release, "")
	require.NoError(t, err)
	require.False(t, notModified)
	require.Equal(t, []string{"a.deb"}, names(assets))
	require.NotEmpty(t, etag)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, assets[0].Digest)

	assets, again, notModified, err := f.client.Assets(t.Context(), f.release, etag)
	require.NoError(t, err)
	require.True(t, notModified)
	require.Nil(t, assets)
	require.Equal(t, etag, again)

	f.upload(t, "b.deb")
	assets, _, notModified, err = f.client.Assets(t.Context(), f.release, etag)
	require.NoError(t, err)
	require.False(t, notModified)
	require.ElementsMatch(t, []string{"a.deb", "b.deb"}, names(assets))
}

// New assets land past the first page, whose ETag does not change: a
// listing of several pages is never trusted to a conditional request.
func TestAssetsPastTheFirstPage(t *testing.T) {
	t.Parallel()
	f := start(t, ghsim.Config{}, "driver-build.yml")
	for i := range 101 {
		f.upload(t, fmt.Sprintf("pkg-%03d.deb", i))
	}
	assets, etag, _, err := f.client.Assets(t.Context(), f.release, "")
	require.NoError(t, err)
	require.Len(t, assets, 101)
	require.Empty(t, etag, "no ETag for a listing of two pages")

	f.upload(t, "pkg-new.deb")
	assets, _, notModified, err := f.client.Assets(t.Context(), f.release, etag)
	require.NoError(t, err)
	require.False(t, notModified)
	require.Contains(t, names(assets), "pkg-new.deb")
}

// Exactly a full page: one page now, but the next asset lands on a
// second, and the first page's ETag does not change.
func TestAssetsFullFirstPage(t *testing.T) {
	t.Parallel()
	f := start(t, ghsim.Config{}, "driver-build.yml")
	for i := range 100 {
		f.upload(t, fmt.Sprintf("pkg-%03d.deb", i))
	}
	assets, etag, _, err := f.client.Assets(t.Context(), f.release, "")
	require.NoError(t, err)
	require.Len(t, assets, 100)
	require.Empty(t, etag, "no ETag for a full page")

	f.upload(t, "pkg-new.deb")
	assets, _, notModified, err := f.client.Assets(t.Context(), f.release, etag)
	require.NoError(t, err)
	require.False(t, notModified)
	require.Contains(t, names(assets), "pkg-new.deb")
}

func inputs(buildID string) map[string]string {
	return map[string]string{
		"kernel_version": "6.8.0-1053-gcp", "architecture": "x86_64", "distribution": "ubuntu",
		"distro_version": "24.04", "driver_version": "v0.1.2", "build_id": buildID,
	}
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	const buildID = "01a21cf6-92a5-792f-96bb-2a01ef022348"
	match := func(title string) bool { return bytes.HasPrefix([]byte(title), []byte("build "+buildID+":")) }

	t.Run("run details in the same call", func(t *testing.T) {
		t.Parallel()
		f := start(t, ghsim.Config{BuildDuration: time.Hour}, "driver-build.yml")
		ref, err := f.client.Dispatch(t.Context(), inputs(buildID))
		require.NoError(t, err)
		require.NotZero(t, ref.ID)
		run, err := f.client.Run(t.Context(), ref.ID)
		require.NoError(t, err)
		require.Equal(t, ref.URL, run.URL)
		require.True(t, match(run.DisplayTitle), run.DisplayTitle)
		require.Equal(t, "workflow_dispatch", run.Event)
		require.EqualValues(t, 1, f.sim.Stats().ByRoute[dispatchRoute])
	})
	t.Run("a server without run details: plain dispatch, found by run-name", func(t *testing.T) {
		t.Parallel()
		f := start(t, ghsim.Config{BuildDuration: time.Hour, RejectRunDetails: true}, "driver-build.yml")
		ref, err := f.client.Dispatch(t.Context(), inputs(buildID))
		require.NoError(t, err)
		require.Zero(t, ref.ID)
		require.EqualValues(t, 2, f.sim.Stats().ByRoute[dispatchRoute], "refused once, then plain")
		require.EqualValues(t, 1, f.sim.Stats().Dispatches)
		run, found, err := f.client.FindRun(t.Context(), time.Now().Add(-time.Minute), match)
		require.NoError(t, err)
		require.True(t, found)
		require.NotZero(t, run.ID)
		_, found, err = f.client.FindRun(t.Context(), time.Now().Add(-time.Minute), func(string) bool { return false })
		require.NoError(t, err)
		require.False(t, found)
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := start(t, ghsim.Config{}, "driver-build.yml")
	ctx := t.Context()

	require.NoError(t, f.sim.InjectFault(ghsim.Fault{Route: dispatchRoute, Status: http.StatusForbidden, RetryAfter: 7}))
	_, err := f.client.Dispatch(ctx, inputs("x"))
	d, limited := ghclient.RetryAfter(err, time.Now())
	require.True(t, limited, "%v", err)
	require.Equal(t, 7*time.Second, d)
	require.False(t, ghclient.Permanent(err))

	// go-github holds back calls during a secondary rate limit: another client.
	f = start(t, ghsim.Config{}, "driver-build.yml")
	require.NoError(t, f.sim.InjectFault(ghsim.Fault{Route: dispatchRoute, Status: http.StatusBadGateway}))
	_, err = f.client.Dispatch(ctx, inputs("x"))
	require.Error(t, err)
	_, limited = ghclient.RetryAfter(err, time.Now())
	require.False(t, limited)
	require.False(t, ghclient.Permanent(err), "a 502 may pass on retry")

	missing := start(t, ghsim.Config{}, "no-such.yml")
	_, err = missing.client.Dispatch(ctx, inputs("x"))
	require.True(t, ghclient.Permanent(err), "%v", err)

	_, err = f.client.Dispatch(ctx, map[string]string{"kernel_version": "6.8.0-1-gcp"})
	require.True(t, ghclient.Permanent(err), "a 422 for missing inputs is final: %v", err)
}

// A file at a commit's sha never changes: read lately, it is not asked
// for again. At a branch, which moves, it is.
func TestFileAtACommitIsReadOnce(t *testing.T) {
	t.Parallel()
	f := start(t, ghsim.Config{BuildDuration: time.Hour}, "driver-build.yml")
	const contents = "GET /api/v3/repos/{owner}/{repo}/contents/{path...}"
	head, found, err := f.client.BranchHead(t.Context(), "main")
	require.NoError(t, err)
	require.True(t, found)
	var first []byte
	for range 3 {
		data, blob, err := f.client.File(t.Context(), head, ".github/kernels.json")
		require.NoError(t, err)
		require.NotEmpty(t, blob)
		require.Contains(t, string(data), "ubuntu")
		if first == nil {
			first = data
		}
		require.Equal(t, first, data)
	}
	require.EqualValues(t, 1, f.sim.Stats().ByRoute[contents], "read once at its sha")
	for range 2 {
		_, _, err := f.client.File(t.Context(), "main", ".github/kernels.json")
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, f.sim.Stats().ByRoute[contents], "read each time at a branch")
}
