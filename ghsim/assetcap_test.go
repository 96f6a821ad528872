package ghsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
)

// uploadBody uploads an asset and returns the status and body of the answer.
func uploadBody(t testing.TB, client *http.Client, sim *ghsim.Server, token string, releaseID int64, name string) (int, []byte) {
	t.Helper()
	url := sim.URL() + "/api/uploads/repos/riptides/driver/releases/" + strconv.FormatInt(releaseID, 10) + "/assets?name=" + name
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(name)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func TestThe1001stAssetIsRefusedAsGitHubRefusesIt(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RateLimit: 10000})
	gh := installationClient(t, sim)
	rel, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	token := installationToken(t, sim)
	client := &http.Client{}
	for i := range kernel.ReleaseAssetLimit {
		status, body := uploadBody(t, client, sim, token, rel.GetID(), fmt.Sprintf("pkg-%04d.deb", i))
		require.Equal(t, http.StatusCreated, status, "upload %d: %s", i+1, body)
	}

	status, body := uploadBody(t, client, sim, token, rel.GetID(), "pkg-1000.deb")
	require.Equal(t, http.StatusUnprocessableEntity, status)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, map[string]any{
		"message": "Validation Failed",
		"errors": []any{map[string]any{
			"resource": "ReleaseAsset", "code": "custom", "field": "file_count",
			"message": "file_count limited to 1000 assets per release",
		}},
		"documentation_url": "https://docs.github.com/rest/releases/assets#upload-a-release-asset",
		"status":            "422",
	}, got)

	// go-github reads it as GitHub's validation error.
	_, _, err = gh.Repositories.UploadReleaseAsset(context.Background(), "riptides", "driver", rel.GetID(),
		&github.UploadOptions{Name: "pkg-1001.deb"}, tempFile(t, "x"))
	var ghErr *github.ErrorResponse
	require.ErrorAs(t, err, &ghErr)
	require.Equal(t, "file_count", ghErr.Errors[0].Field)
	require.Equal(t, "custom", ghErr.Errors[0].Code)

	// Deleting one makes room for one.
	assets, _, err := gh.Repositories.ListReleaseAssets(context.Background(), "riptides", "driver", rel.GetID(), &github.ListOptions{PerPage: 1})
	require.NoError(t, err)
	_, err = gh.Repositories.DeleteReleaseAsset(context.Background(), "riptides", "driver", assets[0].GetID())
	require.NoError(t, err)
	status, body = uploadBody(t, client, sim, token, rel.GetID(), "pkg-1000.deb")
	require.Equal(t, http.StatusCreated, status, string(body))
	status, _ = uploadBody(t, client, sim, token, rel.GetID(), "pkg-1001.deb")
	require.Equal(t, http.StatusUnprocessableEntity, status)
}

func TestReleasesCreatedOnDemand(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	ctx := context.Background()

	latest, _, err := gh.Repositories.GetLatestRelease(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "v0.1.2", latest.GetTagName())

	// A shard release, kept out of "latest" twice over.
	shard, resp, err := gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{
		TagName: github.String("v0.1.2-1"), Prerelease: github.Bool(true), MakeLatest: github.String("false"),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.True(t, shard.GetPrerelease())
	latest, _, err = gh.Repositories.GetLatestRelease(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "v0.1.2", latest.GetTagName())

	// A full release with make_latest false stays out too; one with true goes in.
	_, _, err = gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.1.3"), MakeLatest: github.String("false")})
	require.NoError(t, err)
	latest, _, err = gh.Repositories.GetLatestRelease(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "v0.1.2", latest.GetTagName())
	_, _, err = gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.1.4")})
	require.NoError(t, err)
	latest, _, err = gh.Repositories.GetLatestRelease(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "v0.1.4", latest.GetTagName())

	_, _, err = gh.Repositories.CreateRelease(ctx, "riptides", "driver", &github.RepositoryRelease{TagName: github.String("v0.1.5"), MakeLatest: github.String("maybe")})
	ghErr := apiError(t, err, http.StatusUnprocessableEntity)
	require.Contains(t, ghErr.Message, "make_latest")

	// The shard's tag exists and uploads land in it.
	_, _, err = gh.Git.GetRef(ctx, "riptides", "driver", "tags/v0.1.2-1")
	require.NoError(t, err)
	asset, _, err := gh.Repositories.UploadReleaseAsset(ctx, "riptides", "driver", shard.GetID(), &github.UploadOptions{Name: "a.deb"}, tempFile(t, "deb"))
	require.NoError(t, err)
	require.Contains(t, asset.GetBrowserDownloadURL(), "/releases/download/v0.1.2-1/a.deb")
}

func TestRunUploadMeetsTheCap(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RateLimit: 10000})
	gh := installationClient(t, sim)
	rel, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	token := installationToken(t, sim)
	client := &http.Client{}
	for i := range kernel.ReleaseAssetLimit - 1 {
		status, body := uploadBody(t, client, sim, token, rel.GetID(), fmt.Sprintf("pkg-%04d.deb", i))
		require.Equal(t, http.StatusCreated, status, string(body))
	}
	// The package fits, its .sha256 does not: the run's Upload step fails.
	runID := dispatch(t, sim, token, "6.8.0-1")
	require.Equal(t, "failure", waitCompleted(t, gh, runID).GetConclusion())
	jobs, _, err := gh.Actions.ListWorkflowJobs(context.Background(), "riptides", "driver", runID, nil)
	require.NoError(t, err)
	for _, st := range jobs.Jobs[0].Steps {
		if st.GetName() == "Upload" {
			require.Equal(t, "failure", st.GetConclusion())
		}
	}
}

// tempFile is a file holding content, for go-github's uploads.
func tempFile(t *testing.T, content string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "asset-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	_, err = f.Seek(0, io.SeekStart)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
