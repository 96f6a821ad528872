package app

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"gopkg.in/yaml.v3"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/kernel"
)

// Config is config.yml. Environment variables override it: go-githubapp's
// GITHUB_* variables for the App, DATABASE_URL for the store.
type Config struct {
	// GitHub is go-githubapp's configuration: API URL, app id, key, secret.
	GitHub githubapp.Config `yaml:"github"`

	Repository struct {
		Owner    string `yaml:"owner"`
		Name     string `yaml:"name"`
		Workflow string `yaml:"workflow"`
		Ref      string `yaml:"ref"`
		// InstallationID of the App on the repository; looked up when 0.
		InstallationID int64 `yaml:"installation_id"`
	} `yaml:"repository"`

	Packages kernel.Naming `yaml:"packages"`

	// Distributions maps a name to its versions and default; empty means
	// kernel.DefaultDistributions.
	Distributions map[string]kernel.Distribution `yaml:"distributions"`

	Builds struct {
		// Cooldown: a key whose last build failed this recently gets that
		// failed build back instead of a new dispatch.
		Cooldown time.Duration `yaml:"cooldown"`
		// PollInterval: a build that heard nothing this long is polled.
		PollInterval time.Duration `yaml:"poll_interval"`
		// Timeout: a build not finished this long after dispatch is timed out.
		Timeout time.Duration `yaml:"timeout"`
		// IndexRefresh: how often the release asset index is revalidated.
		IndexRefresh time.Duration `yaml:"index_refresh"`
		// RetryDelay: the least wait before a failed dispatch or package
		// check is retried, times the attempt.
		RetryDelay time.Duration `yaml:"retry_delay"`
		// RedeliverInterval: how often GitHub is asked to redeliver the
		// webhooks that failed.
		RedeliverInterval time.Duration `yaml:"redeliver_interval"`
	} `yaml:"builds"`

	// KernelsJSON is the loop that lists every kernel built in
	// kernels.json on the default branch (repository.ref), through pull
	// requests the App merges once their checks pass.
	KernelsJSON struct {
		Enabled bool   `yaml:"enabled"`
		Path    string `yaml:"path"`
		// MergeMethod: squash, merge or rebase.
		MergeMethod string `yaml:"merge_method"`
		// RequiredChecks are merged on when neither branch protection nor
		// a ruleset of the default branch requires any check.
		RequiredChecks []string `yaml:"required_checks"`
		// ReconcileInterval: how often the open proposals are checked
		// against GitHub, for lost webhooks and restarts.
		ReconcileInterval time.Duration `yaml:"reconcile_interval"`
		// BatchWindow: kernels finishing within it share one pull request;
		// 0 gives each its own.
		BatchWindow time.Duration `yaml:"batch_window"`
	} `yaml:"kernels_json"`

	API struct {
		// Clients are the named loader and admin tokens, kept as hashes.
		Clients []handlers.Client `yaml:"clients"`
		// Tokens are plain loader tokens, the form before Clients; they
		// still work, with a warning.
		Tokens []string `yaml:"tokens"`
		// AllowAnonymous serves POST /build and GET /status to anyone who
		// reaches the port, on purpose: without it, and outside -dev, the
		// service refuses to start with no clients and no tokens. The
		// operators' routes still need an admin client.
		AllowAnonymous bool `yaml:"allow_anonymous"`
		// RateLimit bounds each client's requests.
		RateLimit handlers.RateLimit `yaml:"rate_limit"`
	} `yaml:"api"`

	// DatabaseURL selects Postgres when it is a postgres:// URL; otherwise
	// the embedded SQLite store lives in DataDir.
	DatabaseURL string `yaml:"database_url"`
	DataDir     string `yaml:"data_dir"`

	// Dev relaxes the checks that protect a production App (an empty
	// webhook secret); set by -dev only.
	Dev bool `yaml:"-"`
}

// Defaults are what an empty config.yml means.
func Defaults() Config {
	var c Config
	c.GitHub.V3APIURL = "https://api.github.com/"
	c.Repository.Owner = "riptides"
	c.Repository.Name = "driver"
	c.Repository.Workflow = "driver-build.yml"
	c.Repository.Ref = "main"
	c.Packages = kernel.DefaultNaming()
	c.Builds.Cooldown = 10 * time.Minute
	c.Builds.PollInterval = 15 * time.Second
	c.Builds.Timeout = 15 * time.Minute
	c.Builds.IndexRefresh = 5 * time.Minute
	c.Builds.RetryDelay = 15 * time.Second
	c.Builds.RedeliverInterval = 5 * time.Minute
	c.API.RateLimit = handlers.DefaultRateLimit()
	c.KernelsJSON.Enabled = true
	c.KernelsJSON.Path = ".github/kernels.json"
	c.KernelsJSON.MergeMethod = "squash"
	c.KernelsJSON.RequiredChecks = []string{"validate-kernels"}
	c.KernelsJSON.ReconcileInterval = time.Minute
	c.DataDir = "./data"
	return c
}

// webURL is github.web_url, or when unset the web root of
// github.v3_api_url: a Config built in code gets it as a loaded one does.
func (c Config) webURL() string {
	return cmp.Or(c.GitHub.WebURL, ghclient.WebURLFor(c.GitHub.V3APIURL))
}

// LoadConfig reads a config file over the defaults (path "" means none)
// and applies environment overrides. Unknown keys are an error: a typo
// must not silently fall back to a default.
func LoadConfig(path string) (Config, error) {
	c := Defaults()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	c.GitHub.SetValuesFromEnv("")
	c.GitHub.WebURL = c.webURL()
	if v, ok := os.LookupEnv("DATABASE_URL"); ok {
		c.DatabaseURL = v
	}
	// API_TOKENS, comma-separated, is how a container's secret gives the
	// loaders' tokens without a config file.
	if v, ok := os.LookupEnv("API_TOKENS"); ok {
		c.API.Tokens = envList(v)
	}
	// API_CLIENTS gives api.clients the same way: name:role:sha256,
	// comma-separated, the hashes build-service hash-token prints.
	if v, ok := os.LookupEnv("API_CLIENTS"); ok {
		clients, err := parseClients(v)
		if err != nil {
			return Config{}, fmt.Errorf("API_CLIENTS: %w", err)
		}
		c.API.Clients = clients
	}
	return c, nil
}

// parseClients reads API_CLIENTS; Validate checks each client's role and
// hash. An entry that is not name:role:sha256 is named by its place, not
// quoted: it may be a token.
func parseClients(v string) ([]handlers.Client, error) {
	var out []handlers.Client
	for i, entry := range envList(v) {
		name, rest, ok1 := strings.Cut(entry, ":")
		role, sum, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %d (%d characters): want name:role:sha256, as in fleet:loader:5f1c...", i, len(entry))
		}
		out = append(out, handlers.Client{Name: name, Role: handlers.Role(role), SHA256: sum})
	}
	return out, nil
}

// envList splits a comma-separated variable, dropping blanks.
func envList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

var (
	ownerRe    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoRe     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	workflowRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}\.ya?ml$`)
)

// Catalog returns the configured distributions.
func (c Config) Catalog() (*kernel.Catalog, error) {
	return kernel.CatalogOf(c.Distributions)
}

// Validate refuses a configuration the service cannot run safely with.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.GitHub.App.WebhookSecret == "" && !c.Dev {
		bad("github.app.webhook_secret is empty: unsigned webhooks would be accepted (set it, or GITHUB_APP_WEBHOOK_SECRET)")
	}
	loaders := len(c.API.Tokens)
	for _, cl := range c.API.Clients {
		if cl.Role == handlers.RoleLoader {
			loaders++
		}
	}
	switch {
	case len(c.API.Clients) == 0 && len(c.API.Tokens) == 0 && !c.API.AllowAnonymous && !c.Dev:
		bad("api.tokens is empty and so is api.clients: anyone who reaches the port could dispatch builds (add clients, or api.allow_anonymous: true to allow that on purpose)")
	case loaders > 0 && c.API.AllowAnonymous:
		bad("api.allow_anonymous and api.tokens (or api.clients of role loader) are both set: tokens are required when set; remove one")
	}
	if c.GitHub.App.IntegrationID <= 0 {
		bad("github.app.integration_id must be the App's id (or GITHUB_APP_INTEGRATION_ID)")
	}
	if !strings.Contains(c.GitHub.App.PrivateKey, "PRIVATE KEY") {
		bad("github.app.private_key must hold the App's PEM private key (or GITHUB_APP_PRIVATE_KEY)")
	}
	if !ownerRe.MatchString(c.Repository.Owner) || !repoRe.MatchString(c.Repository.Name) {
		bad("repository.owner/name %q/%q is not a GitHub repository name", c.Repository.Owner, c.Repository.Name)
	}
	if !workflowRe.MatchString(c.Repository.Workflow) {
		bad("repository.workflow %q must be a workflow file name such as driver-build.yml", c.Repository.Workflow)
	}
	if c.Repository.Ref == "" {
		bad("repository.ref is empty")
	}
	if err := c.Packages.Validate(); err != nil {
		bad("packages: %w", err)
	}
	if _, err := c.Catalog(); err != nil {
		bad("distributions: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"builds.poll_interval": c.Builds.PollInterval, "builds.timeout": c.Builds.Timeout, "builds.index_refresh": c.Builds.IndexRefresh,
		"builds.retry_delay":        c.Builds.RetryDelay,
		"builds.redeliver_interval": c.Builds.RedeliverInterval,
	} {
		if d <= 0 {
			bad("%s must be positive", name)
		}
	}
	if c.Builds.Cooldown < 0 {
		bad("builds.cooldown must not be negative")
	}
	if _, err := handlers.NewAccess(c.Access()); err != nil {
		errs = append(errs, err)
	}
	k := c.KernelsJSON
	if !slices.Contains([]string{"squash", "merge", "rebase"}, k.MergeMethod) {
		bad("kernels_json.merge_method %q: accepted are squash, merge and rebase", k.MergeMethod)
	}
	if k.Path == "" || path.IsAbs(k.Path) || path.Clean(k.Path) != k.Path || strings.HasPrefix(k.Path, "../") {
		bad("kernels_json.path %q must be a clean path inside the repository, such as .github/kernels.json", k.Path)
	}
	if k.ReconcileInterval <= 0 {
		bad("kernels_json.reconcile_interval must be positive")
	}
	if k.BatchWindow < 0 {
		bad("kernels_json.batch_window must not be negative (0 gives each kernel its own pull request)")
	}
	if slices.Contains(k.RequiredChecks, "") {
		bad("kernels_json.required_checks: a check name is empty")
	}
	return errors.Join(errs...)
}

// Access is who may call the API: api.clients, plus each plain api.tokens
// entry as a loader client named for its place in the list. With
// api.allow_anonymous loaders need no token; -dev asks none anywhere.
func (c Config) Access() handlers.AccessConfig {
	clients := slices.Clone(c.API.Clients)
	for i, t := range c.API.Tokens {
		clients = append(clients, handlers.Client{Name: fmt.Sprintf("api.tokens[%d]", i), Role: handlers.RoleLoader, SHA256: handlers.HashToken(t)})
	}
	return handlers.AccessConfig{Clients: clients, Open: c.Dev, Anonymous: c.API.AllowAnonymous, RateLimit: c.API.RateLimit}
}
