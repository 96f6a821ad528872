package builds_test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
)

// A build's confirmation refreshes the package's shard, which the build
// may have just created: a shard the index does not know yet is found in
// GitHub's listing and read; an unknown plain tag costs no call.
func TestRefreshTagFindsANewShard(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := newOnSim(t, builds.Config{})
	svc, st, sim, creator := env.svc, env.st, env.sim, env.creator

	const pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb"
	shard := kernel.ReleaseTag("v0.2.0", pkg)
	require.NoError(t, svc.RefreshTag(ctx, shard), "a shard nobody created yet")
	_, err := st.ReleaseByTag(ctx, shard)
	require.ErrorIs(t, err, store.ErrNotFound)

	gh, err := creator.NewInstallationClient(sim.InstallationID())
	require.NoError(t, err)
	gh.UploadURL, err = url.Parse(sim.URL() + "/api/uploads/")
	require.NoError(t, err)
	rel, _, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String(shard), Prerelease: github.Bool(true)})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), pkg)
	require.NoError(t, os.WriteFile(path, []byte("package"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, _, err = gh.Repositories.UploadReleaseAsset(ctx, "riptides", "driver", rel.GetID(), &github.UploadOptions{Name: pkg, Label: "ubuntu 24.04"}, f)
	require.NoError(t, err)

	require.NoError(t, svc.RefreshTag(ctx, shard))
	a, err := st.AssetByName(ctx, shard, pkg)
	require.NoError(t, err)
	require.Equal(t, "24.04", a.DistroVersion)
	require.Equal(t, sim.URL()+"/riptides/driver/releases/download/"+shard+"/"+pkg, a.DownloadURL)

	before := sim.Stats().TotalRequests
	require.NoError(t, svc.RefreshTag(ctx, "v9.9.9"))
	require.Equal(t, before, sim.Stats().TotalRequests, "a plain tag the index does not know is no release")
}
