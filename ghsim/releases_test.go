package ghsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

func TestAssetsPaginationAndETag(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	token := installationToken(t, sim)
	ctx := context.Background()
	rel, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	for i := range 75 {
		resp := upload(t, sim, token, rel.GetID(), fmt.Sprintf("pkg-%02d.deb", i), []byte{byte(i)})
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	assets := apiURL(sim) + "/repos/riptides/driver/releases/" + strconv.FormatInt(rel.GetID(), 10) + "/assets"

	// The subtests run in turn: the last one reads the rate-limit counter.
	t.Run("Link header", func(t *testing.T) {
		resp, body := call(t, http.MethodGet, assets, "token "+token, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var page []map[string]any
		require.NoError(t, json.Unmarshal(body, &page))
		require.Len(t, page, 30, "default per_page")
		require.Equal(t, fmt.Sprintf(`<%s?page=2&per_page=30>; rel="next", <%s?page=3&per_page=30>; rel="last"`, assets, assets), resp.Header.Get("Link"))

		resp, body = call(t, http.MethodGet, assets+"?per_page=500&page=1", "token "+token, nil)
		require.NoError(t, json.Unmarshal(body, &page))
		require.Len(t, page, 75, "per_page is capped at 100")
		require.Empty(t, resp.Header.Get("Link"))

		resp, _ = call(t, http.MethodGet, assets+"?per_page=30&page=2", "token "+token, nil)
		require.Equal(t, fmt.Sprintf(`<%s?page=1&per_page=30>; rel="prev", <%s?page=3&per_page=30>; rel="next", <%s?page=3&per_page=30>; rel="last", <%s?page=1&per_page=30>; rel="first"`, assets, assets, assets, assets), resp.Header.Get("Link"))
	})

	t.Run("go-github follows pages", func(t *testing.T) {
		var names []string
		opts := &github.ListOptions{PerPage: 20}
		for {
			page, resp, err := gh.Repositories.ListReleaseAssets(ctx, "riptides", "driver", rel.GetID(), opts)
			require.NoError(t, err)
			for _, a := range page {
				names = append(names, a.GetName())
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		require.Len(t, names, 75)
		require.Equal(t, "pkg-00.deb", names[0])
		require.Equal(t, "pkg-74.deb", names[74])
		require.Equal(t, "sha256:6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", digestOf(t, gh, firstID(t, gh, rel.GetID())), "sha256 of {0x00}")
	})

	t.Run("conditional request", func(t *testing.T) {
		resp, _ := call(t, http.MethodGet, assets+"?per_page=100", "token "+token, nil)
		etag := resp.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]{64}"$`, etag, "strong ETag")

		req, err := http.NewRequest(http.MethodGet, assets+"?per_page=100", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "token "+token)
		req.Header.Set("If-None-Match", etag)
		notModified, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, notModified.Body.Close())
		require.Equal(t, http.StatusNotModified, notModified.StatusCode)
		require.Zero(t, notModified.ContentLength)
		require.Equal(t, etag, notModified.Header.Get("ETag"))

		// Another conditional request: a 304 is not charged to the rate limit.
		again, err := http.DefaultClient.Do(req.Clone(ctx))
		require.NoError(t, err)
		require.NoError(t, again.Body.Close())
		require.Equal(t, http.StatusNotModified, again.StatusCode)
		require.Equal(t, notModified.Header.Get("X-RateLimit-Used"), again.Header.Get("X-RateLimit-Used"))
		require.Equal(t, notModified.Header.Get("X-RateLimit-Remaining"), again.Header.Get("X-RateLimit-Remaining"))
	})
}

func firstID(t *testing.T, gh *github.Client, releaseID int64) int64 {
	t.Helper()
	page, _, err := gh.Repositories.ListReleaseAssets(context.Background(), "riptides", "driver", releaseID, &github.ListOptions{PerPage: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page)
	return page[0].GetID()
}

// digestOf reads an asset's digest field, which go-github v66 does not know.
func digestOf(t *testing.T, gh *github.Client, id int64) string {
	t.Helper()
	req, err := gh.NewRequest(http.MethodGet, fmt.Sprintf("repos/riptides/driver/releases/assets/%d", id), nil)
	require.NoError(t, err)
	var a struct {
		Digest string `json:"digest"`
	}
	_, err = gh.Do(context.Background(), req, &a)
	require.NoError(t, err)
	return a.Digest
}

func TestETagChangesWithContent(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	token := installationToken(t, sim)
	gh := installationClient(t, sim)
	rel, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	assets := apiURL(sim) + "/repos/riptides/driver/releases/" + strconv.FormatInt(rel.GetID(), 10) + "/assets"

	first, _ := call(t, http.MethodGet, assets, "token "+token, nil)
	require.Equal(t, http.StatusCreated, upload(t, sim, token, rel.GetID(), "a.deb", []byte("a")).StatusCode)
	second, _ := call(t, http.MethodGet, assets, "token "+token, nil)
	require.NotEqual(t, first.Header.Get("ETag"), second.Header.Get("ETag"))
}

func TestUploadAndDownload(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	token := installationToken(t, sim)
	gh := installationClient(t, sim)
	ctx := context.Background()
	rel, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	require.Equal(t, sim.URL()+"/api/uploads/repos/riptides/driver/releases/"+strconv.FormatInt(rel.GetID(), 10)+"/assets{?name,label}", rel.GetUploadURL())

	require.Equal(t, http.StatusCreated, upload(t, sim, token, rel.GetID(), "x.rpm", []byte("package")).StatusCode)
	require.Equal(t, http.StatusUnprocessableEntity, upload(t, sim, token, rel.GetID(), "x.rpm", []byte("again")).StatusCode, "duplicate name")
	require.Equal(t, http.StatusUnprocessableEntity, upload(t, sim, token, rel.GetID(), "../x.rpm", []byte("x")).StatusCode, "bad name")
	require.Equal(t, http.StatusNotFound, upload(t, sim, token, 999999999, "y.rpm", []byte("x")).StatusCode, "unknown release")

	download := sim.URL() + "/riptides/driver/releases/download/v0.1.2/x.rpm"
	resp, body := call(t, http.MethodGet, download, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "package", string(body))
	require.Equal(t, "7", resp.Header.Get("Content-Length"))

	head, _ := call(t, http.MethodHead, download, "", nil)
	require.Equal(t, http.StatusOK, head.StatusCode)
	require.EqualValues(t, 7, head.ContentLength)

	for _, missing := range []string{
		"/riptides/driver/releases/download/v0.1.2/nope.rpm",
		"/riptides/driver/releases/download/v9.9.9/x.rpm",
		"/riptides/other/releases/download/v0.1.2/x.rpm",
	} {
		resp, _ := call(t, http.MethodGet, sim.URL()+missing, "", nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, missing)
	}

	assets, _, err := gh.Repositories.ListReleaseAssets(ctx, "riptides", "driver", rel.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, assets, 1)
	require.Equal(t, 1, assets[0].GetDownloadCount(), "HEAD is not a download")
	_, err = gh.Repositories.DeleteReleaseAsset(ctx, "riptides", "driver", assets[0].GetID())
	require.NoError(t, err)
	resp, _ = call(t, http.MethodGet, download, "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, err = gh.Repositories.DeleteReleaseAsset(ctx, "riptides", "driver", assets[0].GetID())
	require.Error(t, err)
}

func TestReleases(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.0"}})
	gh := installationClient(t, sim)
	ctx := context.Background()

	_, resp, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v9.9.9")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	var ghErr *github.ErrorResponse
	require.ErrorAs(t, err, &ghErr)
	require.Equal(t, "Not Found", ghErr.Message)
	require.NotEmpty(t, ghErr.DocumentationURL)

	created, _, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.2.0"), Name: github.String("v0.2.0")})
	require.NoError(t, err)
	require.False(t, created.GetDraft())
	_, resp, err = gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.2.0")})
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	byID, _, err := gh.Repositories.GetRelease(ctx, "riptides", "driver", created.GetID())
	require.NoError(t, err)
	require.Equal(t, "v0.2.0", byID.GetTagName())

	list, _, err := gh.Repositories.ListReleases(ctx, "riptides", "driver", nil)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "v0.2.0", list[0].GetTagName(), "newest first")

	draft, _, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.3.0"), Draft: github.Bool(true)})
	require.NoError(t, err)
	_, resp, err = gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.3.0")
	require.Error(t, err, "drafts are not found by tag")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	_, _, err = gh.Repositories.EditRelease(ctx, "riptides", "driver", draft.GetID(), &github.RepositoryRelease{Draft: github.Bool(false)})
	require.NoError(t, err)
	published, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.3.0")
	require.NoError(t, err)
	require.NotNil(t, published.PublishedAt)
}
