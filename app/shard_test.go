package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/kernel"
)

// A driver version with shards, published as driver-build.yml publishes
// it: the service indexes every shard and answers each package's URL in
// its shard, and one published in the plain release before the version
// had shards in the plain release.
func TestShardedReleases(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) { c.Builds.IndexRefresh = 200 * time.Millisecond }})
	ctx := t.Context()
	gh, err := githubapp.NewClientCreator(env.Config.GitHub.V3APIURL, "", env.Config.GitHub.App.IntegrationID, []byte(env.Config.GitHub.App.PrivateKey)).
		NewInstallationClient(env.Config.Repository.InstallationID)
	require.NoError(t, err)
	gh.UploadURL, err = url.Parse(env.Sim.URL() + "/api/uploads/")
	require.NoError(t, err)

	const dv = "v0.2.0"
	sharded := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: dv}
	legacy := kernel.Request{KernelVersion: "6.15.5-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: dv}
	cat := kernel.DefaultCatalog()
	name := func(r kernel.Request) string {
		n, err := cat.PackageName(env.Config.Packages, r)
		require.NoError(t, err)
		return n
	}
	shard := kernel.ReleaseTag(dv, name(sharded))
	require.NotEqual(t, dv, shard)
	require.NotEqual(t, dv, kernel.ReleaseTag(dv, name(legacy)), "the legacy package's shard is another release than where it was published")

	releases := map[string]*github.RepositoryRelease{}
	for tag, pre := range map[string]bool{dv: false, shard: true} {
		rel, _, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{
			TagName: github.String(tag), Prerelease: github.Bool(pre), MakeLatest: github.String(map[bool]string{true: "false", false: "true"}[pre]),
		})
		require.NoError(t, err)
		releases[tag] = rel
	}
	upload := func(tag string, r kernel.Request, body string) string {
		sum := sha256.Sum256([]byte(body))
		digest := hex.EncodeToString(sum[:])
		for _, f := range []struct{ name, label, body string }{
			{name(r) + ".sha256", "", digest + "  " + name(r) + "\n"},
			{name(r), r.Distribution + " " + r.DistroVersion, body},
		} {
			path := filepath.Join(t.TempDir(), f.name)
			require.NoError(t, os.WriteFile(path, []byte(f.body), 0o600))
			file, err := os.Open(path)
			require.NoError(t, err)
			_, _, err = gh.Repositories.UploadReleaseAsset(ctx, "riptides", "driver", releases[tag].GetID(), &github.UploadOptions{Name: f.name, Label: f.label}, file)
			file.Close()
			require.NoError(t, err)
		}
		return digest
	}
	shardedSum := upload(shard, sharded, "the sharded package")
	legacySum := upload(dv, legacy, "the legacy package")

	for _, tc := range []struct {
		req      kernel.Request
		tag, sum string
		body     string
	}{
		{sharded, shard, shardedSum, "the sharded package"},
		{legacy, dv, legacySum, "the legacy package"},
	} {
		require.Eventually(t, func() bool {
			_, err := env.Store.AssetByName(ctx, tc.tag, name(tc.req))
			return err == nil
		}, 20*time.Second, 50*time.Millisecond, "the index refresh reads every shard")
		code, done := post(t, env, requestFor(tc.req))
		require.Equal(t, http.StatusOK, code, done.Error)
		require.Equal(t, "done", done.Status)
		require.Equal(t, env.ReleaseURL+"/"+tc.tag+"/"+name(tc.req), done.DownloadURL)
		require.Equal(t, tc.sum, done.SHA256)
		resp, err := http.Get(done.DownloadURL)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.body, string(got))
	}
	require.Zero(t, env.Sim.Stats().Dispatches, "nothing was built")

	code, refused := post(t, env, requestFor(kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DriverVersion: shard}))
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "driver_version", refused.Field, "a shard is no driver version")
}

func requestFor(r kernel.Request) string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}
