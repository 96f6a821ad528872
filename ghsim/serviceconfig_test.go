package ghsim_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/riptides/driverbuild/ghsim"
)

func TestServiceConfig(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{AppID: 12})
	path := filepath.Join(t.TempDir(), "config.yml")
	require.NoError(t, sim.WriteServiceConfigFile(path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "it holds the app key")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)

	// The github section is go-githubapp's own config.
	var cfg struct {
		GitHub     githubapp.Config `yaml:"github"`
		Repository struct {
			Owner, Name, Workflow, Ref string
		} `yaml:"repository"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	require.Equal(t, sim.URL()+"/", cfg.GitHub.WebURL)
	require.Equal(t, sim.URL()+"/api/v3/", cfg.GitHub.V3APIURL)
	require.EqualValues(t, 12, cfg.GitHub.App.IntegrationID)
	require.Equal(t, sim.WebhookSecret(), cfg.GitHub.App.WebhookSecret)
	require.Len(t, sim.WebhookSecret(), 40, "generated when not configured")
	require.Equal(t, string(sim.PrivateKeyPEM()), cfg.GitHub.App.PrivateKey)
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(cfg.GitHub.App.PrivateKey))
	require.NoError(t, err)
	require.Equal(t, 2048, key.N.BitLen())
	require.Equal(t, "riptides", cfg.Repository.Owner)
	require.Equal(t, "driver", cfg.Repository.Name)
	require.Equal(t, "driver-build.yml", cfg.Repository.Workflow)
	require.Equal(t, "main", cfg.Repository.Ref)
	require.Contains(t, string(raw), "private_key: |", "the key is a literal block")

	var buf bytes.Buffer
	require.NoError(t, ghsim.WriteServiceConfig(&buf, sim.ServiceConfig()))
	require.Equal(t, raw, buf.Bytes())
}

func TestListenAndServeWritesConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yml")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ghsim.ListenAndServe(ctx, "127.0.0.1:0", ghsim.Config{WebhookURL: ""}, path) }()

	var raw []byte
	require.Eventually(t, func() bool {
		var err error
		raw, err = os.ReadFile(path)
		return err == nil && len(raw) > 0
	}, waitFor, 10*time.Millisecond)
	var cfg ghsim.ServiceConfig
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	resp, body := call(t, http.MethodGet, strings.TrimSuffix(cfg.GitHub.WebURL, "/")+"/_sim/stats", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		require.FailNow(t, "ListenAndServe did not return")
	}
}

func TestConfiguredKeyAndSecret(t *testing.T) {
	t.Parallel()
	first := startSim(t, ghsim.Config{})
	sim := startSim(t, ghsim.Config{PrivateKeyPEM: first.PrivateKeyPEM(), WebhookSecret: "given"})
	require.Equal(t, first.PrivateKeyPEM(), sim.PrivateKeyPEM())
	require.Equal(t, "given", sim.WebhookSecret())
	_, _, err := installationClient(t, sim).Repositories.ListReleases(t.Context(), "riptides", "driver", nil)
	require.NoError(t, err)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]ghsim.Config{
		"bad key":           {PrivateKeyPEM: []byte("not a key")},
		"bad owner":         {Owner: "ript ides"},
		"bad tag":           {Releases: []string{"v1;rm"}},
		"bad workflow":      {WorkflowYAML: []byte("on: [")},
		"no jobs":           {WorkflowYAML: []byte("on: workflow_dispatch\n")},
		"bad workflow name": {WorkflowFile: "../x.yml"},
		"negative duration": {BuildDuration: -1},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ghsim.New(cfg)
			require.Error(t, err)
		})
	}
}
