package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/detect"
	"github.com/riptides/driverbuild/loader/fetch"
)

// Mode is how modules get into the kernel.
type Mode string

const (
	// ModeHost installs the package with the system's package manager and
	// modprobes the modules: VMs and bare metal.
	ModeHost Mode = "host"
	// ModeContainer extracts the modules in Go and loads them with
	// finit_module, leaving the host's package database alone: a
	// privileged Kubernetes container.
	ModeContainer Mode = "container"
)

// DefaultDriverVersion is the driver release this loader fetches when
// none is configured. Release builds set it with
// -ldflags "-X github.com/riptides/driverbuild/loader.DefaultDriverVersion=v0.1.2".
var DefaultDriverVersion = devDriverVersion

const devDriverVersion = "v0.0.0-dev"

// Defaults for what the config leaves out.
const (
	DefaultRepository   = "riptides/driver"
	DefaultCacheDir     = "/var/cache/driver-loader"
	DefaultConfigFile   = "/etc/driver-loader/config.yaml"
	DefaultBuildTimeout = 20 * time.Minute
)

// Config is everything a run needs. The config file (YAML) holds the same
// keys; environment variables override it and flags override both.
type Config struct {
	DriverVersion string `yaml:"driver_version"`
	// Repository is owner/repo, for the default release URL.
	Repository string `yaml:"repository"`
	// ReleaseURL is the prefix before /{driver_version}/{package}.
	ReleaseURL string `yaml:"release_url"`
	// Mirrors are tried after ReleaseURL, in order (air-gapped sites).
	Mirrors []string `yaml:"mirrors"`
	// GitHubToken serves a private repository: with a github.com release
	// URL, or GitHubAPIURL set, assets are fetched through the REST API;
	// otherwise it is sent as a bearer token to the release URL's host.
	GitHubToken     string `yaml:"github_token"`
	GitHubTokenFile string `yaml:"github_token_file"`
	// GitHubAPIURL is GitHub Enterprise Server's API, https://HOST/api/v3.
	GitHubAPIURL string `yaml:"github_api_url"`

	ServiceURL       string        `yaml:"service_url"`
	ServiceToken     string        `yaml:"service_token"`
	ServiceTokenFile string        `yaml:"service_token_file"`
	BuildTimeout     time.Duration `yaml:"build_timeout"`

	// DownloadTimeout bounds a whole package download from one source;
	// DownloadMinRate (bytes a second, averaged over 30 s) refuses a server
	// that drips bytes to keep it going.
	DownloadTimeout time.Duration `yaml:"download_timeout"`
	DownloadMinRate int64         `yaml:"download_min_rate"`

	CacheDir string `yaml:"cache_dir"`
	Mode     Mode   `yaml:"mode"`
	Replace  bool   `yaml:"replace"`
	HostRoot string `yaml:"host_root"`

	// Aliases map os-release IDs to supported ones, e.g. rocky: centos.
	Aliases map[string]string `yaml:"aliases"`
	// Packages and Distributions must match the build-service's config.
	Packages      kernel.Naming                  `yaml:"packages"`
	Distributions map[string]kernel.Distribution `yaml:"distributions"`

	// Overrides of detected values, and dry-run: flags only.
	Platform detect.Platform `yaml:"-"`
	DryRun   bool            `yaml:"-"`
}

// Defaults is the configuration of an empty config file.
func Defaults() Config {
	return Config{
		DriverVersion:   DefaultDriverVersion,
		Repository:      DefaultRepository,
		BuildTimeout:    DefaultBuildTimeout,
		DownloadTimeout: fetch.DefaultMaxTime,
		DownloadMinRate: fetch.DefaultMinRate,
		CacheDir:        DefaultCacheDir,
		Mode:            ModeHost,
		Packages:        kernel.DefaultNaming(),
	}
}

// LoadFile reads a YAML config file over c. Unknown keys are an error: a
// typo must not fall back to a default silently.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Env lists the environment variables ApplyEnv reads.
var Env = map[string]func(c *Config, v string){
	"DRIVER_LOADER_DRIVER_VERSION": func(c *Config, v string) { c.DriverVersion = v },
	"DRIVER_LOADER_RELEASE_URL":    func(c *Config, v string) { c.ReleaseURL = v },
	"DRIVER_LOADER_SERVICE_URL":    func(c *Config, v string) { c.ServiceURL = v },
	"DRIVER_LOADER_SERVICE_TOKEN":  func(c *Config, v string) { c.ServiceToken = v },
	"DRIVER_LOADER_GITHUB_TOKEN":   func(c *Config, v string) { c.GitHubToken = v },
	"DRIVER_LOADER_CACHE_DIR":      func(c *Config, v string) { c.CacheDir = v },
	"DRIVER_LOADER_MODE":           func(c *Config, v string) { c.Mode = Mode(v) },
}

// ApplyEnv overrides c with the variables of Env that are set.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	for name, set := range Env {
		if v, ok := lookup(name); ok {
			set(c, v)
		}
	}
}

var repoRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)

// Finish checks the configuration, reads token files and fills in derived
// values. Its errors are usage errors.
func (c *Config) Finish() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := kernel.ValidateDriverVersion(c.DriverVersion); err != nil {
		bad("--driver-version: %v", err)
	}
	if c.Mode != ModeHost && c.Mode != ModeContainer {
		bad("--mode %q: accepted are host and container", c.Mode)
	}
	if c.ReleaseURL == "" {
		if !repoRe.MatchString(c.Repository) {
			bad("repository %q: want owner/repo", c.Repository)
		}
		c.ReleaseURL = "https://github.com/" + c.Repository + "/releases/download"
	}
	for _, u := range append([]string{c.ReleaseURL}, c.Mirrors...) {
		if err := checkURL(u); err != nil {
			bad("release URL or mirror: %v", err)
		}
	}
	for flag, u := range map[string]string{"--service-url": c.ServiceURL, "--github-api-url": c.GitHubAPIURL} {
		if u == "" {
			continue
		}
		if err := checkURL(u); err != nil {
			bad("%s: %v", flag, err)
		}
	}
	if c.GitHubAPIURL != "" && !repoRe.MatchString(c.Repository) {
		bad("repository %q: want owner/repo", c.Repository)
	}
	if c.BuildTimeout <= 0 {
		bad("build timeout %s: must be positive, e.g. 20m", c.BuildTimeout)
	}
	if c.DownloadTimeout <= 0 {
		bad("--download-timeout (download_timeout) %s: must be positive, e.g. 10m", c.DownloadTimeout)
	}
	if c.DownloadMinRate <= 0 {
		bad("--download-min-rate (download_min_rate) %d: must be a positive number of bytes a second, e.g. 1024", c.DownloadMinRate)
	}
	if c.CacheDir == "" {
		bad("--cache-dir is empty")
	}
	if err := c.Packages.Validate(); err != nil {
		bad("packages: %v", err)
	}
	if _, err := c.Catalog(); err != nil {
		bad("distributions: %v", err)
	}
	for _, t := range []struct {
		file  string
		token *string
	}{{c.ServiceTokenFile, &c.ServiceToken}, {c.GitHubTokenFile, &c.GitHubToken}} {
		if t.file == "" {
			continue
		}
		b, err := os.ReadFile(t.file)
		if err != nil {
			bad("token file: %v", err)
			continue
		}
		*t.token = strings.TrimSpace(string(b))
	}
	return errors.Join(errs...)
}

var githubReleaseRe = regexp.MustCompile(`^https://github\.com/([^/]+)/([^/]+)/releases/download/?$`)

// GitHubAPI is how release assets are found when a token is configured:
// through github.com's API for a github.com release URL, or through the
// configured Enterprise API. Nil means plain downloads.
func (c *Config) GitHubAPI() *fetch.GitHubAPI {
	if c.GitHubToken == "" {
		return nil
	}
	if c.GitHubAPIURL != "" {
		owner, repo, _ := strings.Cut(c.Repository, "/")
		return &fetch.GitHubAPI{URL: c.GitHubAPIURL, Owner: owner, Repo: repo}
	}
	if m := githubReleaseRe.FindStringSubmatch(c.ReleaseURL); m != nil {
		return &fetch.GitHubAPI{URL: "https://api.github.com", Owner: m[1], Repo: m[2]}
	}
	return nil
}

// Catalog is the configured distributions, or the defaults.
func (c *Config) Catalog() (*kernel.Catalog, error) {
	return kernel.CatalogOf(c.Distributions)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL", s)
	}
	return nil
}
