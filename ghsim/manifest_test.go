package ghsim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// noRedirect stops at GitHub's redirect, to read the code from it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func postManifest(t *testing.T, page, manifest string) *http.Response {
	t.Helper()
	resp, err := noRedirect.PostForm(page, url.Values{"manifest": {manifest}})
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

const goodManifest = `{"name":"driverbuild","url":"https://driverbuild.example.com",
 "hook_attributes":{"url":"https://driverbuild.example.com/api/github/hook"},
 "redirect_url":"http://127.0.0.1:8000/callback?from=test",
 "default_permissions":{"actions":"write","contents":"write"},"default_events":["workflow_run","release"]}`

func TestAppManifestFlow(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})

	resp := postManifest(t, sim.URL()+"/settings/apps/new?state=s1", goodManifest)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	to, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8000", to.Host)
	require.Equal(t, "/callback", to.Path)
	require.Equal(t, "s1", to.Query().Get("state"))
	require.Equal(t, "test", to.Query().Get("from"), "the redirect URL's own query is kept")
	code := to.Query().Get("code")
	require.Regexp(t, `^[0-9a-f]{20}$`, code)

	gh := appClient(t, sim)
	cfg, r, err := gh.Apps.CompleteAppManifest(t.Context(), code)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, r.StatusCode)
	require.Equal(t, sim.AppID(), cfg.GetID())
	require.Equal(t, "driverbuild", cfg.GetName())
	require.Equal(t, string(sim.PrivateKeyPEM()), cfg.GetPEM())
	require.Equal(t, sim.WebhookSecret(), cfg.GetWebhookSecret())
	require.NotEmpty(t, cfg.GetClientSecret())
	require.Equal(t, "https://driverbuild.example.com", cfg.GetExternalURL())

	// The raw answer carries the manifest's permissions, metadata read
	// added as GitHub does.
	resp2 := postManifest(t, sim.URL()+"/organizations/RIPTIDES/settings/apps/new", goodManifest)
	require.Equal(t, http.StatusFound, resp2.StatusCode)
	to, _ = url.Parse(resp2.Header.Get("Location"))
	_, body := call(t, http.MethodPost, apiURL(sim)+"/app-manifests/"+to.Query().Get("code")+"/conversions", "", nil)
	var raw struct {
		Permissions map[string]string `json:"permissions"`
		Events      []string          `json:"events"`
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Equal(t, map[string]string{"actions": "write", "contents": "write", "metadata": "read"}, raw.Permissions)
	require.Equal(t, []string{"workflow_run", "release"}, raw.Events)

	t.Run("a code works once", func(t *testing.T) {
		_, r, err := gh.Apps.CompleteAppManifest(t.Context(), code)
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, r.StatusCode)
	})
	t.Run("an unknown code is GitHub's 404", func(t *testing.T) {
		resp, body := call(t, http.MethodPost, apiURL(sim)+"/app-manifests/0123456789abcdef0123/conversions", "", nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.JSONEq(t, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest","status":"404"}`, string(body))
	})
}

func TestAppManifestRefused(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	for name, tc := range map[string]struct {
		page, manifest string
		status         int
	}{
		"another organization": {"/organizations/someone-else/settings/apps/new", goodManifest, http.StatusNotFound},
		"no manifest":          {"/settings/apps/new", "", http.StatusUnprocessableEntity},
		"not JSON":             {"/settings/apps/new", "{", http.StatusUnprocessableEntity},
		"no homepage":          {"/settings/apps/new", strings.Replace(goodManifest, `"url":"https://driverbuild.example.com",`, "", 1), http.StatusUnprocessableEntity},
		"no hook url":          {"/settings/apps/new", strings.Replace(goodManifest, `"url":"https://driverbuild.example.com/api/github/hook"`, `"active":true`, 1), http.StatusUnprocessableEntity},
		"bad permission":       {"/settings/apps/new", strings.Replace(goodManifest, `"contents":"write"`, `"contents":"all"`, 1), http.StatusUnprocessableEntity},
	} {
		t.Run(name, func(t *testing.T) {
			resp := postManifest(t, sim.URL()+tc.page, tc.manifest)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Empty(t, resp.Header.Get("Location"))
		})
	}
}
