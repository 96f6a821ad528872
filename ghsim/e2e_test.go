package ghsim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// TestGoGitHubEndToEnd drives the simulator as the build-service does:
// go-github with ghinstallation, through base URLs only.
func TestGoGitHubEndToEnd(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.0", "v0.1.2"}})
	gh := installationClient(t, sim)
	ctx := context.Background()
	before := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)

	_, err := gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, "riptides", "driver", "driver-build.yml",
		github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: buildInputs("6.8.0-1053-gcp")})
	require.NoError(t, err)

	runs, _, err := gh.Actions.ListWorkflowRunsByFileName(ctx, "riptides", "driver", "driver-build.yml",
		&github.ListWorkflowRunsOptions{Event: "workflow_dispatch", Created: ">=" + before})
	require.NoError(t, err)
	require.Equal(t, 1, runs.GetTotalCount())
	run := runs.WorkflowRuns[0]
	require.Equal(t, "build b-6.8.0-1053-gcp: ubuntu 24.04 6.8.0-1053-gcp x86_64 v0.1.2", run.GetDisplayTitle())
	require.Equal(t, "driver-build", run.GetName())
	require.Equal(t, "main", run.GetHeadBranch())
	require.Equal(t, ".github/workflows/driver-build.yml", run.GetPath())
	require.Equal(t, 1, run.GetRunAttempt())
	require.Equal(t, "riptides/driver", run.GetRepository().GetFullName())

	none, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, "riptides", "driver",
		&github.ListWorkflowRunsOptions{Created: "<" + before})
	require.NoError(t, err)
	require.Zero(t, none.GetTotalCount())
	none, _, err = gh.Actions.ListRepositoryWorkflowRuns(ctx, "riptides", "driver",
		&github.ListWorkflowRunsOptions{Event: "push"})
	require.NoError(t, err)
	require.Zero(t, none.GetTotalCount())

	done := waitCompleted(t, gh, run.GetID())
	require.Equal(t, "success", done.GetConclusion())

	jobs, _, err := gh.Actions.ListWorkflowJobs(ctx, "riptides", "driver", run.GetID(), nil)
	require.NoError(t, err)
	require.Equal(t, 1, jobs.GetTotalCount())
	job := jobs.Jobs[0]
	require.Equal(t, "completed", job.GetStatus())
	require.Equal(t, "success", job.GetConclusion())
	var steps []string
	for _, st := range job.Steps {
		require.Equal(t, "success", st.GetConclusion(), st.GetName())
		steps = append(steps, st.GetName())
	}
	require.Equal(t, []string{"Set up job", "Install kernel headers", "Build driver", "Package", "Upload", "Complete job"}, steps)

	succeeded, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, "riptides", "driver",
		&github.ListWorkflowRunsOptions{Status: "success"})
	require.NoError(t, err)
	require.Equal(t, 1, succeeded.GetTotalCount())

	rel, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	assets, _, err := gh.Repositories.ListReleaseAssets(ctx, "riptides", "driver", rel.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, assets, 2)
	const name = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	require.Equal(t, name, assets[0].GetName())
	require.Equal(t, "ubuntu 24.04", assets[0].GetLabel())
	require.Equal(t, "uploaded", assets[0].GetState())
	require.Equal(t, name+".sha256", assets[1].GetName())

	pkg := get(t, assets[0].GetBrowserDownloadURL())
	require.Equal(t, sim.URL()+"/riptides/driver/releases/download/v0.1.2/"+name, assets[0].GetBrowserDownloadURL())
	require.Equal(t, assets[0].GetSize(), len(pkg))
	sum := sha256.Sum256(pkg)
	require.Equal(t, hex.EncodeToString(sum[:])+"  "+name+"\n", string(get(t, assets[1].GetBrowserDownloadURL())))

	// The API's octet-stream download redirects to the public URL.
	rc, redirect, err := gh.Repositories.DownloadReleaseAsset(ctx, "riptides", "driver", assets[0].GetID(), nil)
	require.NoError(t, err)
	require.Nil(t, rc)
	require.Equal(t, assets[0].GetBrowserDownloadURL(), redirect)
	rc, _, err = gh.Repositories.DownloadReleaseAsset(ctx, "riptides", "driver", assets[0].GetID(), http.DefaultClient)
	require.NoError(t, err)
	viaAPI, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, pkg, viaAPI)
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, body := call(t, http.MethodGet, url, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	return body
}

func TestFailingKernel(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, FailKernels: regexp.MustCompile(`^5\.4\.`)})
	gh := installationClient(t, sim)
	ctx := context.Background()

	id := dispatch(t, sim, installationToken(t, sim), "5.4.0-1")
	run := waitCompleted(t, gh, id)
	require.Equal(t, "failure", run.GetConclusion())

	jobs, _, err := gh.Actions.ListWorkflowJobs(ctx, "riptides", "driver", id, nil)
	require.NoError(t, err)
	conclusions := map[string]string{}
	for _, st := range jobs.Jobs[0].Steps {
		conclusions[st.GetName()] = st.GetConclusion()
	}
	require.Equal(t, map[string]string{
		"Set up job": "success", "Install kernel headers": "success", "Build driver": "failure",
		"Package": "skipped", "Upload": "skipped", "Complete job": "success",
	}, conclusions)
	require.Equal(t, "failure", jobs.Jobs[0].GetConclusion())

	rel, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	require.Empty(t, rel.Assets)
	resp, _ := call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/riptides-driver-ubuntu-5.4.0-1_v0.1.2_amd64.deb", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	failed, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, "riptides", "driver", &github.ListWorkflowRunsOptions{Status: "failure"})
	require.NoError(t, err)
	require.Equal(t, 1, failed.GetTotalCount())
}

func TestMissingReleaseFailsUpload(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)

	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	require.Equal(t, "failure", waitCompleted(t, gh, id).GetConclusion())
	jobs, _, err := gh.Actions.ListWorkflowJobs(context.Background(), "riptides", "driver", id, nil)
	require.NoError(t, err)
	require.Equal(t, "failure", jobs.Jobs[0].Steps[4].GetConclusion(), "Upload")
}

func TestCancelRun(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, BuildDuration: time.Hour})
	gh := installationClient(t, sim)
	ctx := context.Background()

	id := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	resp, err := gh.Actions.CancelWorkflowRunByID(ctx, "riptides", "driver", id)
	var accepted *github.AcceptedError
	require.ErrorAs(t, err, &accepted)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	run := waitCompleted(t, gh, id)
	require.Equal(t, "cancelled", run.GetConclusion())
	_, err = gh.Actions.CancelWorkflowRunByID(ctx, "riptides", "driver", id)
	var ghErr *github.ErrorResponse
	require.ErrorAs(t, err, &ghErr)
	require.Equal(t, http.StatusConflict, ghErr.Response.StatusCode)

	cancelled, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, "riptides", "driver", &github.ListWorkflowRunsOptions{Status: "cancelled"})
	require.NoError(t, err)
	require.Equal(t, 1, cancelled.GetTotalCount())
	require.Equal(t, map[string]int{"queued": 0, "in_progress": 0, "completed": 1}, sim.Stats().Runs)
}

func TestRunsFilters(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	token := installationToken(t, sim)
	dispatch(t, sim, token, "6.8.0-1")
	runs := "/repos/riptides/driver/actions/runs"

	tests := map[string]struct {
		path  string
		want  int // HTTP status
		count int
	}{
		"all":                {runs, http.StatusOK, 1},
		"by workflow":        {"/repos/riptides/driver/actions/workflows/driver-build.yml/runs", http.StatusOK, 1},
		"since":              {runs + "?created=>=2020-01-01T00:00:00Z", http.StatusOK, 1},
		"date range":         {runs + "?created=2020-01-01..2999-01-01", http.StatusOK, 1},
		"open range":         {runs + "?created=2020-01-01..*", http.StatusOK, 1},
		"before":             {runs + "?created=<2020-01-01", http.StatusOK, 0},
		"after date":         {runs + "?created=>2999-01-01", http.StatusOK, 0},
		"branch":             {runs + "?branch=main", http.StatusOK, 1},
		"other branch":       {runs + "?branch=dev", http.StatusOK, 0},
		"actor":              {runs + "?actor=driverbuild-sim[bot]", http.StatusOK, 1},
		"ignored page value": {runs + "?per_page=abc&page=-1", http.StatusOK, 1},
		"bad status":         {runs + "?status=done", http.StatusUnprocessableEntity, 0},
		"bad created":        {runs + "?created=yesterday", http.StatusUnprocessableEntity, 0},
		"bad range":          {runs + "?created=2020-01-01..soon", http.StatusUnprocessableEntity, 0},
		"unknown workflow":   {"/repos/riptides/driver/actions/workflows/nightly.yml/runs", http.StatusNotFound, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, body := call(t, http.MethodGet, apiURL(sim)+tc.path, "token "+token, nil)
			require.Equal(t, tc.want, resp.StatusCode, string(body))
			if tc.want != http.StatusOK {
				return
			}
			var list struct {
				TotalCount   int               `json:"total_count"`
				WorkflowRuns []json.RawMessage `json:"workflow_runs"`
			}
			require.NoError(t, json.Unmarshal(body, &list))
			require.Equal(t, tc.count, list.TotalCount)
			require.Len(t, list.WorkflowRuns, tc.count)
		})
	}
}
