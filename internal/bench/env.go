package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"
)

// Binaries are the programs a run starts, built once with go build: the
// real build-service and ghsim as they ship, and this tool, which serves
// the bare handler as a process of its own.
type Binaries struct {
	Service, Ghsim, Bench string
}

// Build compiles the binaries into dir, from the module that holds the
// working directory.
func Build(ctx context.Context, dir string) (Binaries, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/build-service", "./cmd/ghsim", "./cmd/bench")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w: %s", err, msg)
	}
	return Binaries{
		Service: filepath.Join(dir, "build-service"), Ghsim: filepath.Join(dir, "ghsim"), Bench: filepath.Join(dir, "bench"),
	}, nil
}

// EnvOptions shape one environment.
type EnvOptions struct {
	DB            string // sqlite or postgres
	PostgresURL   string // the server a fresh database is created on
	BuildDuration time.Duration
	PollInterval  time.Duration
	DropWebhooks  bool
	// Relay puts the tool between ghsim and the service's webhook
	// endpoint, to see when each delivery starts.
	Relay *Relay
	// Seed runs on the service's database before the service starts.
	Seed func(ctx context.Context, databaseURL, dataDir string) error
	// ServiceURL and GhsimURL target running ones instead.
	ServiceURL, GhsimURL string
}

// Env is a running ghsim, build-service and bare handler.
type Env struct {
	ServiceURL, GhsimURL, BareURL string

	dir     string
	procs   []*exec.Cmd
	cleanup []func()
}

// StartEnv starts what o does not target: ghsim, then the service on a
// fresh database, and always the bare handler.
func StartEnv(ctx context.Context, bin Binaries, o EnvOptions) (*Env, error) {
	dir, err := os.MkdirTemp("", "driverbuild-bench-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	e.cleanup = append(e.cleanup, func() { os.RemoveAll(dir) })
	if err := e.startAll(ctx, bin, o); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Env) startAll(ctx context.Context, bin Binaries, o EnvOptions) error {
	dir := e.dir

	bareAddr, err := freeAddr()
	if err != nil {
		return err
	}
	if err := e.start(ctx, "bare", nil, bin.Bench, "serve-bare", "-listen", bareAddr); err != nil {
		return err
	}
	e.BareURL = "http://" + bareAddr
	if err := awaitUp(ctx, e.BareURL+"/healthz"); err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}

	if o.ServiceURL != "" || o.GhsimURL != "" {
		if o.ServiceURL == "" || o.GhsimURL == "" {
			return errors.New("-service and -ghsim go together")
		}
		e.ServiceURL, e.GhsimURL = strings.TrimSuffix(o.ServiceURL, "/"), strings.TrimSuffix(o.GhsimURL, "/")
		if o.Relay != nil {
			o.Relay.Target = e.ServiceURL + "/api/github/hook"
		}
		return nil
	}

	ghAddr, err := freeAddr()
	if err != nil {
		return err
	}
	svcAddr, err := freeAddr()
	if err != nil {
		return err
	}
	e.ServiceURL, e.GhsimURL = "http://"+svcAddr, "http://"+ghAddr
	hook := e.ServiceURL + "/api/github/hook"
	if o.Relay != nil {
		o.Relay.Target = hook
		hook, err = o.Relay.Start()
		if err != nil {
			return err
		}
		e.cleanup = append(e.cleanup, o.Relay.Close)
	}
	simConfig := filepath.Join(dir, "sim.yml")
	args := []string{
		"-listen", ghAddr, "-webhook-url", hook, "-releases", "v0.1.0,v0.1.2",
		"-build-duration", o.BuildDuration.String(), "-rate-limit", "100000000",
		"-placeholder-packages", "-write-config", simConfig,
	}
	if o.DropWebhooks {
		args = append(args, "-drop-webhooks", "1")
	}
	if err := e.start(ctx, "ghsim", nil, bin.Ghsim, args...); err != nil {
		return err
	}
	if err := awaitUp(ctx, e.GhsimURL+"/_sim/stats"); err != nil {
		return fmt.Errorf("ghsim: %w", err)
	}
	if err := awaitFile(ctx, simConfig); err != nil {
		return fmt.Errorf("ghsim config: %w", err)
	}

	dataDir := filepath.Join(dir, "data")
	databaseURL := ""
	if o.DB == "postgres" {
		databaseURL, err = e.createDatabase(ctx, o.PostgresURL)
		if err != nil {
			return err
		}
	}
	if err := configure(simConfig, dataDir, o.PollInterval); err != nil {
		return err
	}
	if o.Seed != nil {
		if err := o.Seed(ctx, databaseURL, dataDir); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	env := append(os.Environ(), "DATABASE_URL="+databaseURL, "API_TOKENS=")
	if err := e.start(ctx, "build-service", env, bin.Service, "-config", simConfig, "-listen", svcAddr, "-log-format", "json"); err != nil {
		return err
	}
	if err := awaitUp(ctx, e.ServiceURL+"/readyz"); err != nil {
		return fmt.Errorf("build-service: %w; its log ends: %s", err, tail(e.logPath("build-service")))
	}
	return nil
}

func (e *Env) logPath(name string) string { return filepath.Join(e.dir, name+".log") }

func (e *Env) start(ctx context.Context, name string, env []string, bin string, args ...string) error {
	log, err := os.Create(e.logPath(name))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	e.procs = append(e.procs, cmd)
	e.cleanup = append(e.cleanup, func() { log.Close() })
	return nil
}

// createDatabase makes a database of its own for the run, dropped by
// Close, and returns its URL.
func (e *Env) createDatabase(ctx context.Context, adminURL string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	name := "bench_" + strings.ToLower(rand.Text())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	e.cleanup = append(e.cleanup, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, adminURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = conn.Close(ctx)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("postgres URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// ServicePID is the service's process id, 0 when it was not started here.
func (e *Env) ServicePID() int {
	for _, p := range e.procs {
		if filepath.Base(p.Path) == "build-service" {
			return p.Process.Pid
		}
	}
	return 0
}

// Close stops the processes, newest first, each with SIGTERM and a grace
// period, and removes what the run made.
func (e *Env) Close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(25 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func awaitUp(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not up: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func awaitFile(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// configure adds the service's own settings to the config ghsim wrote.
// The per-client rate limit is lifted: the tool measures what the service
// can serve, and every client of a run is one anonymous loader.
func configure(path, dataDir string, poll time.Duration) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("ghsim's config: %w", err)
	}
	api, _ := c["api"].(map[string]any)
	if api == nil {
		api = map[string]any{}
	}
	api["rate_limit"] = map[string]any{"per_second": 1e9, "burst": 1_000_000_000, "per": "token"}
	c["api"] = api
	c["data_dir"] = dataDir
	c["builds"] = map[string]any{"poll_interval": poll.String()}
	out, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// tail is the end of a log, for an error.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-2000):])
}
