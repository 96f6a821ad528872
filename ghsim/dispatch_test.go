package ghsim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
)

func TestDispatchValidation(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	token := installationToken(t, sim)
	dispatches := func(workflow string) string {
		return apiURL(sim) + "/repos/riptides/driver/actions/workflows/" + workflow + "/dispatches"
	}
	without := func(name string) map[string]any {
		in := buildInputs("6.8.0-1")
		delete(in, name)
		return in
	}
	with := func(name string, v any) map[string]any {
		in := buildInputs("6.8.0-1")
		in[name] = v
		return in
	}

	tests := map[string]struct {
		workflow string
		body     any
		status   int
		message  string // exact GitHub message, when set
	}{
		"by file name":           {"driver-build.yml", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")}, http.StatusNoContent, ""},
		"by numeric id":          {"161335", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")}, http.StatusNoContent, ""},
		"full ref":               {"driver-build.yml", map[string]any{"ref": "refs/heads/main", "inputs": buildInputs("6.8.0-1")}, http.StatusNoContent, ""},
		"optional input omitted": {"driver-build.yml", map[string]any{"ref": "main", "inputs": without("build_id")}, http.StatusNoContent, ""},
		"details false":          {"driver-build.yml", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1"), "return_run_details": false}, http.StatusNoContent, ""},
		"unknown workflow":       {"nightly.yml", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")}, http.StatusNotFound, "Not Found"},
		"unknown ref":            {"driver-build.yml", map[string]any{"ref": "develop", "inputs": buildInputs("6.8.0-1")}, http.StatusUnprocessableEntity, "No ref found for: develop"},
		"no ref":                 {"driver-build.yml", map[string]any{"inputs": buildInputs("6.8.0-1")}, http.StatusUnprocessableEntity, "Invalid request.\n\n\"ref\" wasn't supplied."},
		"unexpected inputs":      {"driver-build.yml", map[string]any{"ref": "main", "inputs": with("zz", "1")}, http.StatusUnprocessableEntity, `Unexpected inputs provided: ["zz"]`},
		"several unexpected":     {"driver-build.yml", map[string]any{"ref": "main", "inputs": map[string]any{"b": "1", "a": "2"}}, http.StatusUnprocessableEntity, `Unexpected inputs provided: ["a","b"]`},
		"missing required":       {"driver-build.yml", map[string]any{"ref": "main", "inputs": without("kernel_version")}, http.StatusUnprocessableEntity, "Required input 'kernel_version' not provided"},
		"no inputs":              {"driver-build.yml", map[string]any{"ref": "main"}, http.StatusUnprocessableEntity, "Required input 'kernel_version' not provided"},
		"number input":           {"driver-build.yml", map[string]any{"ref": "main", "inputs": with("distro_version", 24.04)}, http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/distro_version', 24.04 is not a string."},
		"inputs not an object":   {"driver-build.yml", map[string]any{"ref": "main", "inputs": []string{"x"}}, http.StatusUnprocessableEntity, ""},
		"unknown key":            {"driver-build.yml", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1"), "extra": 1}, http.StatusUnprocessableEntity, "Invalid request.\n\n\"extra\" is not a permitted key."},
		"details not a boolean":  {"driver-build.yml", map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1"), "return_run_details": "yes"}, http.StatusUnprocessableEntity, ""},
		"malformed JSON":         {"driver-build.yml", `{"ref":`, http.StatusBadRequest, "Problems parsing JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, body := call(t, http.MethodPost, dispatches(tc.workflow), "token "+token, tc.body)
			require.Equal(t, tc.status, resp.StatusCode, string(body))
			if tc.status == http.StatusNoContent {
				require.Empty(t, body)
				return
			}
			var e struct {
				Message string `json:"message"`
			}
			require.NoError(t, json.Unmarshal(body, &e))
			if tc.message != "" {
				require.Equal(t, tc.message, e.Message)
			}
		})
	}
}

func TestDispatchRunDetails(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	token := installationToken(t, sim)

	resp, body := call(t, http.MethodPost, apiURL(sim)+"/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches",
		"token "+token, map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1"), "return_run_details": true})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var details map[string]any
	require.NoError(t, json.Unmarshal(body, &details))
	require.Len(t, details, 3)
	id := int64(details["workflow_run_id"].(float64))
	runID := strconv.FormatInt(id, 10)
	require.Equal(t, apiURL(sim)+"/repos/riptides/driver/actions/runs/"+runID, details["run_url"])
	require.Equal(t, sim.URL()+"/riptides/driver/actions/runs/"+runID, details["html_url"])

	resp, body = call(t, http.MethodGet, details["run_url"].(string), "token "+token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var run struct {
		ID           int64  `json:"id"`
		DisplayTitle string `json:"display_title"`
		Path         string `json:"path"`
		Event        string `json:"event"`
		Name         string `json:"name"`
	}
	require.NoError(t, json.Unmarshal(body, &run))
	require.Equal(t, id, run.ID)
	require.Equal(t, "build b-6.8.0-1: ubuntu 24.04 6.8.0-1 x86_64 v0.1.2", run.DisplayTitle)
	require.Equal(t, ".github/workflows/driver-build.yml", run.Path)
	require.Equal(t, "workflow_dispatch", run.Event)
	require.Equal(t, "driver-build", run.Name)
}

func TestDispatchRejectRunDetails(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{RejectRunDetails: true})
	token := installationToken(t, sim)
	url := apiURL(sim) + "/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches"

	resp, body := call(t, http.MethodPost, url, "token "+token,
		map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1"), "return_run_details": true})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var e struct {
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "Invalid request.\n\n\"return_run_details\" is not a permitted key.", e.Message)
	require.Zero(t, sim.Stats().Dispatches)

	resp, body = call(t, http.MethodPost, url, "token "+token, map[string]any{"ref": "main", "inputs": buildInputs("6.8.0-1")})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	require.EqualValues(t, 1, sim.Stats().Dispatches)
}

func TestRunsUploadRealPackagesByDefault(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	runID := dispatch(t, sim, installationToken(t, sim), "6.8.0-1053-gcp")
	require.Equal(t, "success", waitCompleted(t, gh, runID).GetConclusion())
	const name = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	resp, pkg := call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/"+name, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.HasPrefix(pkg, []byte("!<arch>\ndebian-binary")), "a .deb is an ar archive led by debian-binary")
	_, sum := call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/"+name+".sha256", "", nil)
	digest := sha256.Sum256(pkg)
	require.Equal(t, hex.EncodeToString(digest[:])+"  "+name+"\n", string(sum))
}

func TestRunsUploadToTheirShardRelease(t *testing.T) {
	t.Parallel()
	require.Positive(t, kernel.Shards("v0.2.0"), "v0.2.0 has shards")
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.2.0"}, WebhookURL: rc.URL()})
	gh := installationClient(t, sim)
	ctx := context.Background()
	token := installationToken(t, sim)
	inputs := buildInputs("6.8.0-1053-gcp")
	inputs["driver_version"] = "v0.2.0"
	resp, body := call(t, http.MethodPost, apiURL(sim)+"/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches",
		"Bearer "+token, map[string]any{"ref": "main", "inputs": inputs, "return_run_details": true})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var details struct {
		WorkflowRunID int64 `json:"workflow_run_id"`
	}
	require.NoError(t, json.Unmarshal(body, &details))
	require.Equal(t, "success", waitCompleted(t, gh, details.WorkflowRunID).GetConclusion())

	const name = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb"
	tag := kernel.ReleaseTag("v0.2.0", name)
	require.NotEqual(t, "v0.2.0", tag)
	shard, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", tag)
	require.NoError(t, err)
	require.True(t, shard.GetPrerelease())
	var names []string
	for _, a := range shard.Assets {
		names = append(names, a.GetName())
	}
	require.Equal(t, []string{name, name + ".sha256"}, names)
	plain, _, err := gh.Repositories.GetReleaseByTag(ctx, "riptides", "driver", "v0.2.0")
	require.NoError(t, err)
	require.Empty(t, plain.Assets)
	latest, _, err := gh.Repositories.GetLatestRelease(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "v0.2.0", latest.GetTagName(), "a shard is never latest")
	rc.waitHook(t, func(h hook) bool {
		return h.Event == "release" && h.Action == "published" && strings.Contains(string(h.Body), `"tag_name":"`+tag+`"`)
	})
	resp, _ = call(t, http.MethodGet, shard.Assets[0].GetBrowserDownloadURL(), "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
