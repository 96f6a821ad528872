package ghclient_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
)

func (f *fixture) uploadData(t *testing.T, name string, data []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	file, err := os.Open(path)
	require.NoError(t, err)
	defer file.Close()
	_, _, err = f.gh.Repositories.UploadReleaseAsset(t.Context(), "riptides", "driver", f.release, &github.UploadOptions{Name: name}, file)
	require.NoError(t, err)
}

func TestPublished(t *testing.T) {
	f := start(t, ghsim.Config{}, "driver-build.yml")
	creator := githubapp.NewClientCreator(f.sim.URL()+"/api/v3/", "", f.sim.AppID(), f.sim.PrivateKeyPEM())
	client := ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", WebURL: f.sim.URL() + "/"})
	ctx := t.Context()

	pkg := []byte("a package")
	sum := sha256.Sum256(pkg)
	const name = "riptides-driver-debian-6.1.0-57-amd64_v0.1.2_amd64.deb"

	f.uploadData(t, name+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"))
	_, found, err := client.Published(ctx, "v0.1.2", name)
	require.NoError(t, err)
	assert.False(t, found, "a .sha256 without its package is no package")

	f.uploadData(t, name, pkg)
	before := f.sim.Stats()
	digest, found, err := client.Published(ctx, "v0.1.2", name)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), digest)
	after := f.sim.Stats()
	for route, n := range after.ByRoute {
		if n != before.ByRoute[route] {
			assert.NotContains(t, route, "/api/", "Published made an API call")
		}
	}
	assert.Equal(t, before.TotalRequests+2, after.TotalRequests, "one HEAD and one GET")

	// The URL is the one GitHub lists for the asset.
	assets, _, _, err := f.client.Assets(ctx, f.release, "")
	require.NoError(t, err)
	var listed string
	for _, a := range assets {
		if a.Name == name {
			listed = a.BrowserDownloadURL
		}
	}
	assert.Equal(t, listed, client.DownloadURL("v0.1.2", name))

	_, found, err = client.Published(ctx, "v0.1.2", "riptides-driver-debian-6.1.0-58-amd64_v0.1.2_amd64.deb")
	require.NoError(t, err)
	assert.False(t, found, "a package not uploaded")
	_, found, err = client.Published(ctx, "v9.9.9", name)
	require.NoError(t, err)
	assert.False(t, found, "a release that does not exist")

	const bad = "riptides-driver-debian-6.1.0-59-amd64_v0.1.2_amd64.deb"
	f.uploadData(t, bad+".sha256", []byte("not a digest\n"))
	f.uploadData(t, bad, pkg)
	_, found, err = client.Published(ctx, "v0.1.2", bad)
	require.ErrorContains(t, err, bad+".sha256 does not start with a sha256 in hex")
	assert.False(t, found)

	offline := ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver"})
	_, found, err = offline.Published(ctx, "v0.1.2", name)
	require.NoError(t, err)
	assert.False(t, found, "no web URL: nothing is looked for")
	assert.Empty(t, offline.DownloadURL("v0.1.2", name))
}
