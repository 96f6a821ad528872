package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/fetch"
	"github.com/riptides/driverbuild/matrix"
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

// The scale a fleet reaches: 1,200 kernels of one driver version,
// published as driver-build.yml publishes them (each in the release
// matrix-gen release names, the shard created by its first package, the
// .sha256 first). Every package and its .sha256 are published, the
// service answers done with a URL that serves each, the loader's fast
// path finds each at its computed URL without asking the service, and
// matrix-gen's diff finds nothing left to build.
func TestTwelveHundredKernels(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	ctx := t.Context()
	gh, err := githubapp.NewClientCreator(env.Config.GitHub.V3APIURL, "", env.Config.GitHub.App.IntegrationID, []byte(env.Config.GitHub.App.PrivateKey)).
		NewInstallationClient(env.Config.Repository.InstallationID)
	require.NoError(t, err)
	gh.UploadURL, err = url.Parse(env.Sim.URL() + "/api/uploads/")
	require.NoError(t, err)

	const dv = "v0.2.0"
	_, _, err = gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String(dv)})
	require.NoError(t, err)
	var entries []matrix.Entry
	for i := range 1200 {
		entries = append(entries, matrix.Entry{Arch: "x86_64", Target: "ubuntu", KernelRelease: fmt.Sprintf("6.8.0-%d-%s", 1000+i/4, []string{"generic", "gcp", "aws", "azure"}[i%4])})
	}
	opts := matrix.Options{Catalog: kernel.DefaultCatalog(), Naming: env.Config.Packages, DriverVersion: dv}
	res, err := matrix.Build(entries, nil, opts)
	require.NoError(t, err)
	var todo []kernel.Request
	for _, c := range res.Chunks {
		todo = append(todo, c.Include...)
	}
	require.Len(t, todo, 1200)

	// One publisher per shard, as concurrent builds would be.
	dir := t.TempDir()
	digests := map[string]string{}
	byShard := map[string][]kernel.Request{}
	for _, r := range todo {
		pkg, err := opts.Catalog.PackageName(opts.Naming, r)
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(pkg))
		digests[pkg] = hex.EncodeToString(sum[:])
		byShard[kernel.ReleaseTag(dv, pkg)] = append(byShard[kernel.ReleaseTag(dv, pkg)], r)
	}
	require.Len(t, byShard, kernel.Shards(dv), "every shard holds some")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for tag, reqs := range byShard {
		wg.Go(func() {
			if err := publish(ctx, gh, dir, tag, reqs, opts, digests); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	// The loader's fast path: the computed URL, then its .sha256; no 404,
	// no service.
	before := env.Sim.Stats().ByRoute["GET /{owner}/{repo}/releases/download/{tag}/{name}"]
	f := &fetch.Fetcher{Sources: []string{env.ReleaseURL}, CacheDir: t.TempDir(), MirrorDigests: true}
	for pkg, digest := range digests {
		got, err := f.Fetch(ctx, fetch.Request{DriverVersion: dv, Package: pkg})
		require.NoError(t, err, pkg)
		require.Equal(t, digest, got.SHA256)
		require.Equal(t, fetch.PackageURL(env.ReleaseURL, dv, pkg), got.URL)
		got.File.Close()
	}
	require.EqualValues(t, 2*1200, env.Sim.Stats().ByRoute["GET /{owner}/{repo}/releases/download/{tag}/{name}"]-before)

	// The service, once its refresh (at start) has read every shard,
	// answers each at once with a URL that serves it.
	env.Kill(t)
	env.Restart(t)
	lastPkg, _ := opts.Catalog.PackageName(opts.Naming, todo[len(todo)-1])
	for _, r := range todo {
		pkg, _ := opts.Catalog.PackageName(opts.Naming, r)
		require.Eventually(t, func() bool {
			_, err := env.Store.AssetByName(ctx, kernel.ReleaseTag(dv, pkg), pkg)
			return err == nil
		}, 30*time.Second, 50*time.Millisecond, pkg)
		code, done := post(t, env, requestFor(r))
		require.Equal(t, http.StatusOK, code, done.Error)
		require.Equal(t, fetch.PackageURL(env.ReleaseURL, dv, pkg), done.DownloadURL)
		require.Equal(t, digests[pkg], done.SHA256)
	}
	resp, err := http.Get(fetch.PackageURL(env.ReleaseURL, dv, lastPkg))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, lastPkg, string(body))
	require.Zero(t, env.Sim.Stats().Dispatches, "nothing was built")

	// An operator sees how full each shard is.
	metrics := scrape(t, env)
	require.Contains(t, metrics, "\ndriverbuild_release_asset_limit 1000\n")
	for tag, reqs := range byShard {
		require.Contains(t, metrics, fmt.Sprintf("\ndriverbuild_release_assets{release=%q} %d\n", tag, 2*len(reqs)))
	}
	require.Contains(t, metrics, "\ndriverbuild_release_assets{release=\"v0.2.0\"} 0\n")

	// matrix-gen's diff reads every shard.
	opts.Existing, err = matrix.ExistingAssets(ctx, gh, "riptides", "driver", dv)
	require.NoError(t, err)
	res, err = matrix.Build(entries, nil, opts)
	require.NoError(t, err)
	require.Empty(t, res.Chunks, "nothing left to build")
	require.Equal(t, 1200, res.Built)
}

// publish does for one shard what driver-build.yml does for each of its
// packages: the shard release is made by the first, each .sha256 goes up
// before its package.
func publish(ctx context.Context, gh *github.Client, dir, tag string, reqs []kernel.Request, opts matrix.Options, digests map[string]string) error {
	var id int64
	for _, r := range reqs {
		pkg, err := opts.Catalog.PackageName(opts.Naming, r)
		if err != nil {
			return err
		}
		if id == 0 {
			rel, _, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{
				TagName: github.String(tag), Prerelease: github.Bool(true), MakeLatest: github.String("false"),
			})
			if err != nil {
				return fmt.Errorf("create %s: %w", tag, err)
			}
			id = rel.GetID()
		}
		for _, f := range []struct{ name, label, body string }{
			{pkg + ".sha256", "", digests[pkg] + "  " + pkg + "\n"},
			{pkg, "ubuntu " + r.DistroVersion, pkg},
		} {
			path := filepath.Join(dir, f.name)
			if err := os.WriteFile(path, []byte(f.body), 0o600); err != nil {
				return err
			}
			file, err := os.Open(path)
			if err != nil {
				return err
			}
			_, _, err = gh.Repositories.UploadReleaseAsset(ctx, "riptides", "driver", id, &github.UploadOptions{Name: f.name, Label: f.label}, file)
			file.Close()
			if err != nil {
				return fmt.Errorf("upload %s to %s: %w", f.name, tag, err)
			}
		}
	}
	return nil
}

// A build of a driver version with shards ends done with a URL that
// serves its package, wherever the build put it: in its shard, as
// driver-build.yml does, or in the plain release, as a workflow from before
// shards does.
func TestShardedBuild(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	gh, err := githubapp.NewClientCreator(env.Config.GitHub.V3APIURL, "", env.Config.GitHub.App.IntegrationID, []byte(env.Config.GitHub.App.PrivateKey)).
		NewInstallationClient(env.Config.Repository.InstallationID)
	require.NoError(t, err)
	_, _, err = gh.Repositories.CreateRelease(t.Context(), "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.2.0")})
	require.NoError(t, err)
	req := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.2.0"}
	var code int
	var accepted status
	require.Eventually(t, func() bool {
		code, accepted = post(t, env, requestFor(req))
		return code != http.StatusBadRequest // until the release webhook is in
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusAccepted, code, accepted.Error)
	waitFor(t, env, accepted.BuildID, terminal)
	final := getStatus(t, env, accepted.BuildID)
	require.Equal(t, "done", final.Status, final.Reason)
	resp, err := http.Get(final.DownloadURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, final.DownloadURL)
}
