// Package ghsim is a GitHub simulator for driverbuild: the REST subset the
// build-service and driver-loader call (app authentication, a repository
// with its git refs, commits, trees and contents, releases and assets,
// workflow dispatch and runs), simulated driver-build runs that publish
// packages, signed webhooks with a deliveries log, and fault injection,
// one-off (Fault) or at random (Chaos). It serves GitHub Enterprise style paths (/api/v3/,
// /api/uploads/) so go-github and go-githubapp talk to it unmodified, and
// release downloads at github.com's /{owner}/{repo}/releases/download/....
//
// Besides the Go API (Stats, InjectFault, PauseWebhooks), control
// endpoints serve tests and people with curl:
//
//	GET    /_sim/stats   counters, as Stats
//	GET    /_sim/runs    every run: id, build_id (from its run-name), status, conclusion
//	GET    /_sim/faults  pending faults and whether webhooks are paused
//	POST   /_sim/faults  {"faults":[{"route","status","count","retry_after"}],"webhooks_paused":true}
//	DELETE /_sim/faults  clear faults and resume webhooks
package ghsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild"
)

const defaultBranch = "main"

// ArtifactFunc produces the package a successful run uploads: the asset
// name, its bytes and its label. A non-nil error fails the run's Package step.
type ArtifactFunc func(inputs map[string]string) (name string, data []byte, label string, err error)

// DefaultReleases are the driver releases a simulator starts with unless
// told otherwise: standalone ghsim and -dev alike.
var DefaultReleases = []string{"v0.1.0", "v0.1.2"}

// Config configures a Server. The zero value is usable: every field has a default.
type Config struct {
	// BaseURL is the simulator's root URL as clients reach it, such as
	// http://127.0.0.1:9000. Start derives it from the listener when empty;
	// with Handler alone call SetBaseURL.
	BaseURL string

	Owner, Repo    string // default riptides/driver
	AppID          int64  // default 1
	AppSlug        string // default driverbuild-sim
	InstallationID int64  // default 1

	// PrivateKeyPEM is the app's RSA key (PKCS#1 or PKCS#8); a fresh
	// 2048-bit key is generated when empty.
	PrivateKeyPEM []byte

	// WebhookURL receives the app's webhooks; empty sends none.
	WebhookURL string
	// WebhookSecret signs webhook bodies; generated when empty.
	WebhookSecret string
	// WebhookTimeout bounds one delivery (default 10s, as GitHub).
	WebhookTimeout time.Duration

	// WorkflowFile and WorkflowYAML define the dispatchable workflow;
	// defaults driver-build.yml and driverbuild.DriverBuildWorkflow.
	WorkflowFile string
	WorkflowYAML []byte

	// KernelsJSON is the default branch's initial .github/kernels.json;
	// default driverbuild.KernelsJSON, the repository's own.
	KernelsJSON []byte

	// FailChecks fails the simulated validate-kernels check of pull
	// request heads whose branch matches.
	FailChecks *regexp.Regexp
	// CheckDuration is how long the check of a pull request head runs
	// (default 2s).
	CheckDuration time.Duration
	// RequiredChecksIn is where the default branch requires
	// validate-kernels: RequiredInProtection (the default),
	// RequiredInRulesets or RequiredNowhere.
	RequiredChecksIn string
	// RequiredReviews is how many approving reviews the default branch
	// requires before a merge (0 for none), where its checks are
	// required. A reviewer with write access approves a pull request
	// through POST /_sim/pulls/{pull_number}/approve.
	RequiredReviews int

	// Releases are tags published at start, without webhooks.
	Releases []string

	// BuildDuration is how long a run takes from dispatch to completion (default 20s).
	BuildDuration time.Duration
	// FailKernels fails the Build driver step of runs whose kernel_version matches.
	FailKernels *regexp.Regexp
	// RejectRunDetails answers dispatches carrying return_run_details with
	// 422, as GitHub did before February 2026.
	RejectRunDetails bool
	// Artifact builds the package of a successful run; default DefaultArtifact.
	Artifact ArtifactFunc
	// RunnerCommand, when set, is run by /bin/sh for each run instead of
	// the timed simulation: see runner.go for its environment, output
	// directory and step markers. BuildDuration, FailKernels and Artifact
	// do not apply then.
	RunnerCommand string

	// RateLimit is the hourly request budget per installation (default 5000).
	RateLimit int
	// Chaos switches on faults at random; the zero value none.
	Chaos Chaos
	// Now is the clock for timestamps, tokens and JWT checks (default time.Now).
	Now func() time.Time
	// Logger logs the simulator's work; nil logs nothing.
	Logger *zerolog.Logger
}

func (c *Config) setDefaults() {
	c.Owner = cmpOr(c.Owner, "riptides")
	c.Repo = cmpOr(c.Repo, "driver")
	c.AppSlug = cmpOr(c.AppSlug, "driverbuild-sim")
	c.WorkflowFile = cmpOr(c.WorkflowFile, "driver-build.yml")
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.AppID == 0 {
		c.AppID = 1
	}
	if c.InstallationID == 0 {
		c.InstallationID = 1
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = 10 * time.Second
	}
	if c.WorkflowYAML == nil {
		c.WorkflowYAML = driverbuild.DriverBuildWorkflow
	}
	if c.KernelsJSON == nil {
		c.KernelsJSON = driverbuild.KernelsJSON
	}
	if c.BuildDuration == 0 {
		c.BuildDuration = 20 * time.Second
	}
	if c.CheckDuration == 0 {
		c.CheckDuration = 2 * time.Second
	}
	c.RequiredChecksIn = cmpOr(c.RequiredChecksIn, RequiredInProtection)
	if c.Artifact == nil {
		c.Artifact = DefaultArtifact
	}
	if c.Chaos.SecondaryRetryAfter == 0 {
		c.Chaos.SecondaryRetryAfter = time.Minute
	}
	if c.RateLimit == 0 {
		c.RateLimit = 5000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
}

var accountName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$`)

func (c *Config) validate() error {
	if !accountName.MatchString(c.Owner) || !accountName.MatchString(c.Repo) {
		return fmt.Errorf("repository %q/%q: want GitHub owner and repository names", c.Owner, c.Repo)
	}
	if c.AppID < 0 || c.InstallationID < 0 {
		return errors.New("app and installation ids must be positive")
	}
	switch c.RequiredChecksIn {
	case RequiredInProtection, RequiredInRulesets, RequiredNowhere:
	default:
		return fmt.Errorf("required checks in %q: want %s, %s or %s", c.RequiredChecksIn, RequiredInProtection, RequiredInRulesets, RequiredNowhere)
	}
	if c.BuildDuration < 0 || c.CheckDuration < 0 || c.WebhookTimeout < 0 || c.RateLimit < 0 {
		return errors.New("durations and rate limit must not be negative")
	}
	if err := c.Chaos.Validate(); err != nil {
		return err
	}
	for _, tag := range c.Releases {
		if !validTag(tag) {
			return fmt.Errorf("release tag %q: want letters, digits and ._+-", tag)
		}
	}
	return nil
}

// Server is a running simulated GitHub. Its state is split by API area,
// each area behind its own lock, so that one area's work never waits on
// another's. Code of one area that calls into another under its lock
// takes the locks in this order: actions, releases, pulls, repository,
// webhooks.
// The endpoint, auth, fault and stats locks are leaves: nothing else is
// taken while one is held.
type Server struct {
	cfg        Config
	log        zerolog.Logger
	key        *rsa.PrivateKey
	keyPEM     []byte
	secret     string
	workflow   *workflow
	started    time.Time
	mux        *http.ServeMux
	routes     map[string]bool // route labels, for fault validation
	hookClient *http.Client

	ctx       context.Context // cancelled by Close; stops runs and deliveries
	cancel    context.CancelFunc
	wg        sync.WaitGroup // run and delivery goroutines
	closeOnce sync.Once
	closed    atomic.Bool
	ids       atomic.Int64

	ep     endpoints
	auth   authState
	repo   *repository
	rel    releaseState
	act    actionState
	pulls  pullState
	hooks  hookState
	faults faultState
	stats  counters
}

// endpoints are where the simulator is reached and where it delivers.
type endpoints struct {
	mu         sync.RWMutex
	baseURL    string
	webhookURL string
	httpSrv    *http.Server
}

// New creates a simulator; it serves nothing until Start or Handler is used.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ghsim config: %w", err)
	}
	wf, err := parseWorkflow(cfg.WorkflowFile, cfg.WorkflowYAML)
	if err != nil {
		return nil, fmt.Errorf("ghsim config: %w", err)
	}
	key, keyPEM, err := appKey(cfg.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("ghsim config: %w", err)
	}
	secret := cfg.WebhookSecret
	if secret == "" {
		secret = randomHex(20)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		log:        *cfg.Logger,
		key:        key,
		keyPEM:     keyPEM,
		secret:     secret,
		workflow:   wf,
		started:    cfg.Now().UTC().Truncate(time.Second),
		routes:     map[string]bool{},
		hookClient: &http.Client{Timeout: cfg.WebhookTimeout},
		ctx:        ctx,
		cancel:     cancel,
		ep:         endpoints{baseURL: cfg.BaseURL, webhookURL: cfg.WebhookURL},
	}
	s.ids.Store(1000)
	s.faults.rng = newRand(cfg.Chaos.Seed)
	s.auth.tokens, s.auth.limits = map[string]installationToken{}, map[int64]*rateWindow{}
	s.hooks.queues = map[string][]*delivery{}
	s.stats.byRoute = map[string]int64{}
	s.repo = newRepository()
	seeder := signature{name: "ghsim", email: "ghsim@users.noreply.github.com", date: s.started}
	if err := s.repo.seed(defaultBranch, map[string][]byte{
		".github/kernels.json":         cfg.KernelsJSON,
		".github/workflows/" + wf.file: cfg.WorkflowYAML,
	}, seeder); err != nil {
		return nil, fmt.Errorf("ghsim config: seed the repository: %w", err)
	}
	for _, tag := range cfg.Releases {
		s.makeLatestLocked(s.createReleaseLocked(releaseParams{Tag: tag, Name: tag}), "true")
	}
	s.mux = http.NewServeMux()
	s.registerRoutes()
	return s, nil
}

// appKey parses the configured key or generates one, returning it with
// its PKCS#1 PEM, the form GitHub hands out.
func appKey(pemBytes []byte) (*rsa.PrivateKey, []byte, error) {
	if len(pemBytes) > 0 {
		key, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("app private key: %w", err)
		}
		return key, pemBytes, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate app key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails, see crypto/rand
	return hex.EncodeToString(b)
}

// Handler serves the simulator: the API under /api/v3/ and /api/uploads/,
// release downloads at /{owner}/{repo}/releases/download/..., and the
// control endpoints under /_sim/.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// PrivateKeyPEM is the app's private key.
func (s *Server) PrivateKeyPEM() []byte { return s.keyPEM }

// WebhookSecret is the secret webhook bodies are signed with.
func (s *Server) WebhookSecret() string { return s.secret }

// AppID is the simulated app's id.
func (s *Server) AppID() int64 { return s.cfg.AppID }

// InstallationID is the id of the app's one installation.
func (s *Server) InstallationID() int64 { return s.cfg.InstallationID }

// URL is the simulator's base URL; the REST API is URL()+"/api/v3/".
func (s *Server) URL() string {
	s.ep.mu.RLock()
	defer s.ep.mu.RUnlock()
	return s.ep.baseURL
}

// webhookURL is where webhooks go; empty sends none.
func (s *Server) webhookURL() string {
	s.ep.mu.RLock()
	defer s.ep.mu.RUnlock()
	return s.ep.webhookURL
}

// SetBaseURL sets the URL clients reach the simulator at, for use with
// Handler, e.g. httptest.NewServer(sim.Handler()) followed by
// sim.SetBaseURL(ts.URL).
func (s *Server) SetBaseURL(u string) {
	s.ep.mu.Lock()
	defer s.ep.mu.Unlock()
	s.ep.baseURL = strings.TrimSuffix(u, "/")
}

// SetWebhookURL changes where webhooks go from the next delivery on, for
// a receiver that starts after the simulator.
func (s *Server) SetWebhookURL(u string) {
	s.ep.mu.Lock()
	defer s.ep.mu.Unlock()
	s.ep.webhookURL = u
}

// Start serves the simulator on ln in the background until Close.
func (s *Server) Start(ln net.Listener) {
	s.ep.mu.Lock()
	if s.ep.baseURL == "" {
		s.ep.baseURL = "http://" + dialableAddr(ln.Addr())
	}
	s.ep.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv := s.ep.httpSrv
	s.ep.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("serve")
		}
	}()
}

// dialableAddr turns a wildcard listen address into one clients can dial.
func dialableAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

// Close stops serving (when started with Start), stops simulated runs and
// webhook deliveries, and waits for their goroutines.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.ep.mu.RLock()
		srv := s.ep.httpSrv
		s.ep.mu.RUnlock()
		if srv != nil {
			err = srv.Close()
		}
		s.cancel()
		s.wg.Wait()
	})
	return err
}

// ListenAndServe runs a simulator on addr until ctx is done. When
// configPath is not empty it writes a build-service config pointing at the
// simulator there first.
func ListenAndServe(ctx context.Context, addr string, cfg Config, configPath string) error {
	sim, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim.Start(ln)
	defer sim.Close()
	sim.log.Info().Str("url", sim.URL()).Str("repository", sim.cfg.Owner+"/"+sim.cfg.Repo).Msg("ghsim serving")
	if configPath != "" {
		if err := sim.WriteServiceConfigFile(configPath); err != nil {
			return err
		}
		sim.log.Info().Str("path", configPath).Msg("wrote build-service config")
	}
	<-ctx.Done()
	return nil
}

// urls builds absolute URLs from the current base URL.
func (s *Server) urls() urls {
	return newURLs(s.URL(), s.cfg.Owner, s.cfg.Repo)
}

// newID hands out the ids of every kind of object, as one sequence.
func (s *Server) newID() int64 {
	return s.ids.Add(1)
}

func (s *Server) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Second)
}
