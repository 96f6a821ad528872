package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/kernel"
)

// The commented example at the repository root says what the defaults are.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := app.LoadConfig("../config.yml")
	require.NoError(t, err)
	def := app.Defaults()
	require.Equal(t, def.Builds, cfg.Builds)
	require.Equal(t, def.Packages, cfg.Packages)
	require.Equal(t, def.Repository, cfg.Repository)
	require.Equal(t, def.API.RateLimit, cfg.API.RateLimit)
	require.Empty(t, cfg.API.Clients)
	cat, err := cfg.Catalog()
	require.NoError(t, err)
	require.Equal(t, kernel.DefaultCatalog().Distributions(), cat.Distributions())

	err = cfg.Validate()
	require.ErrorContains(t, err, "webhook_secret is empty")
	require.ErrorContains(t, err, "integration_id")
	require.ErrorContains(t, err, "private_key")
}

func TestLoadConfig(t *testing.T) {
	write := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "config.yml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}

	t.Run("unknown keys are refused", func(t *testing.T) {
		_, err := app.LoadConfig(write(t, "builds:\n  cooldwn: 5m\n"))
		require.ErrorContains(t, err, "cooldwn")
	})
	t.Run("the web URL follows the API URL unless set", func(t *testing.T) {
		for api, web := range map[string]string{
			"https://api.github.com/":            "https://github.com/",
			"https://ghe.example.com/api/v3/":    "https://ghe.example.com/",
			"https://ghe.example.com/api/v3":     "https://ghe.example.com/",
			"https://example.com/github/api/v3/": "https://example.com/github/",
			"https://proxy.example.com/":         "", // cannot tell: the listing confirms packages
		} {
			cfg, err := app.LoadConfig(write(t, "github:\n  v3_api_url: "+api+"\n"))
			require.NoError(t, err)
			require.Equal(t, web, cfg.GitHub.WebURL, api)
		}
		cfg, err := app.LoadConfig(write(t, "github:\n  v3_api_url: https://ghe.example.com/api/v3/\n  web_url: https://web.example.com/\n"))
		require.NoError(t, err)
		require.Equal(t, "https://web.example.com/", cfg.GitHub.WebURL)
	})
	t.Run("environment overrides the file", func(t *testing.T) {
		t.Setenv("GITHUB_APP_WEBHOOK_SECRET", "from-env")
		t.Setenv("GITHUB_APP_INTEGRATION_ID", "42")
		t.Setenv("DATABASE_URL", "postgres://db/x")
		t.Setenv("API_TOKENS", " one, two ,,")
		cfg, err := app.LoadConfig(write(t, "github:\n  app:\n    webhook_secret: from-file\n    integration_id: 1\nbuilds:\n  cooldown: 1m\napi:\n  tokens: [from-file]\n"))
		require.NoError(t, err)
		require.Equal(t, "from-env", cfg.GitHub.App.WebhookSecret)
		require.EqualValues(t, 42, cfg.GitHub.App.IntegrationID)
		require.Equal(t, "postgres://db/x", cfg.DatabaseURL)
		require.Equal(t, []string{"one", "two"}, cfg.API.Tokens)
		require.Equal(t, time.Minute, cfg.Builds.Cooldown)
		require.Equal(t, 15*time.Second, cfg.Builds.PollInterval, "unset keys keep their defaults")
	})
	t.Run("API_CLIENTS gives the clients", func(t *testing.T) {
		fleet, ops := handlers.HashToken("fleet-token"), handlers.HashToken("ops-token")
		t.Setenv("API_CLIENTS", " fleet:loader:"+fleet+", ops:admin:"+ops+",")
		cfg, err := app.LoadConfig(write(t, "api:\n  clients: [{name: old, role: loader, sha256: "+handlers.HashToken("x")+"}]\n"))
		require.NoError(t, err)
		require.Equal(t, []handlers.Client{{Name: "fleet", Role: handlers.RoleLoader, SHA256: fleet}, {Name: "ops", Role: handlers.RoleAdmin, SHA256: ops}}, cfg.API.Clients)
		require.NotContains(t, fmt.Sprint(cfg.Validate()), "api.clients", "valid clients")

		t.Setenv("API_CLIENTS", "fleet:loader:"+fleet+",a-plain-secret-token")
		_, err = app.LoadConfig("")
		require.EqualError(t, err, `API_CLIENTS: entry 1 (20 characters): want name:role:sha256, as in fleet:loader:5f1c...`)
		require.NotContains(t, err.Error(), "a-pl", "what may be a token is not quoted")
		t.Setenv("API_CLIENTS", "fleet:root:"+fleet)
		cfg, err = app.LoadConfig("")
		require.NoError(t, err)
		require.ErrorContains(t, cfg.Validate(), `api.clients[0].role "root": accepted are loader and admin`)
	})
	t.Run("bad values are named", func(t *testing.T) {
		cfg, err := app.LoadConfig(write(t, `
repository: {owner: "a b", workflow: "x.sh"}
packages: {prefix: riptides-driver, name_template: "{prefix}-{kernel_release}.{ext}"}
distributions:
  ubuntu: {versions: ["24.04"], default: "22.04"}
`))
		require.NoError(t, err)
		cfg.Dev = true
		err = cfg.Validate()
		require.ErrorContains(t, err, "repository.owner/name")
		require.ErrorContains(t, err, "repository.workflow")
		require.ErrorContains(t, err, "must contain {distribution}")
		require.ErrorContains(t, err, `default version "22.04"`)
		require.NotContains(t, err.Error(), "webhook_secret", "dev mode may run without a secret")
	})
	t.Run("kernels_json has defaults and refuses bad values", func(t *testing.T) {
		cfg, err := app.LoadConfig(write(t, "kernels_json:\n  batch_window: 5s\n"))
		require.NoError(t, err)
		k := cfg.KernelsJSON
		require.True(t, k.Enabled)
		require.Equal(t, ".github/kernels.json", k.Path)
		require.Equal(t, "squash", k.MergeMethod)
		require.Equal(t, []string{"validate-kernels"}, k.RequiredChecks)
		require.Equal(t, time.Minute, k.ReconcileInterval)
		require.Equal(t, 5*time.Second, k.BatchWindow)

		cfg, err = app.LoadConfig(write(t, "kernels_json: {merge_method: fast-forward, path: ../x.json, reconcile_interval: 0s, batch_window: -1s, required_checks: [\"\"]}\n"))
		require.NoError(t, err)
		cfg.Dev = true
		err = cfg.Validate()
		for _, s := range []string{`merge_method "fast-forward"`, `kernels_json.path "../x.json"`, "reconcile_interval must be positive", "batch_window must not be negative", "a check name is empty"} {
			require.ErrorContains(t, err, s)
		}
	})
	t.Run("an empty secret is refused outside dev mode", func(t *testing.T) {
		cfg := app.Defaults()
		require.ErrorContains(t, cfg.Validate(), "webhook_secret is empty")
		cfg.Dev = true
		require.NotContains(t, cfg.Validate().Error(), "webhook_secret")
	})
	t.Run("no loader token is refused unless anonymous access is asked for", func(t *testing.T) {
		cfg := app.Defaults()
		cfg.GitHub.App.WebhookSecret = "s"
		cfg.GitHub.App.IntegrationID = 1
		cfg.GitHub.App.PrivateKey = "-----BEGIN RSA PRIVATE KEY-----"
		require.ErrorContains(t, cfg.Validate(), "api.tokens is empty")
		require.ErrorContains(t, cfg.Validate(), "api.allow_anonymous: true")

		cfg.API.AllowAnonymous = true
		require.NoError(t, cfg.Validate())

		cfg.API.Tokens = []string{"t"}
		require.ErrorContains(t, cfg.Validate(), "api.allow_anonymous and api.tokens")
		cfg.API.AllowAnonymous = false
		require.NoError(t, cfg.Validate())

		cfg.API.Tokens = nil
		cfg.Dev = true
		require.NoError(t, cfg.Validate(), "dev mode is for trying things")
	})
}

// ghsim -write-config writes a config the service loads as it is, and it
// says what SimConfig says.
func TestSimulatorWrittenConfig(t *testing.T) {
	t.Parallel()
	sim, err := ghsim.New(ghsim.Config{BaseURL: "http://127.0.0.1:9000"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	path := filepath.Join(t.TempDir(), "sim.yml")
	require.NoError(t, sim.WriteServiceConfigFile(path))

	cfg, err := app.LoadConfig(path)
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	want := app.SimConfig(app.Defaults(), sim)
	require.Equal(t, want.GitHub, cfg.GitHub)
	require.Equal(t, want.Repository.Owner, cfg.Repository.Owner)
	require.Equal(t, want.Repository.Name, cfg.Repository.Name)
	require.True(t, cfg.API.AllowAnonymous, "a simulator config is for trying things")
	require.Equal(t, want.API, cfg.API)
}
