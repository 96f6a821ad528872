package chaos

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// bin holds the binaries, built once for every test of the package.
var bin struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		_ = os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// binaries builds ghsim and build-service with go build, as a deployment
// would, and returns their directory.
func binaries(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "driverbuild-chaos-")
		if bin.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", bin.dir, "./cmd/ghsim", "./cmd/build-service")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, bin.err)
	return bin.dir
}

// proc is a running binary whose output goes to a file, shown when the
// test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, dir, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	base := strings.SplitN(name, "#", 2)[0]
	cmd := exec.Command(filepath.Join(binaries(t), base), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, f, f
	cmd.Env = append(os.Environ(), env...)
	require.NoError(t, cmd.Start())
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("--- %s (last lines):\n%s", name, b)
		}
	})
	return p
}

// signal sends sig and waits for the process to end.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// balancer is the load balancer in front of the replicas: it sends each
// request to the next replica, and to the one after when a replica does
// not answer, as a load balancer's health checks would.
type balancer struct {
	url      string
	backends []string
	next     atomic.Uint64
	client   *http.Client
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	b := &balancer{backends: backends, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: b}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.url = "http://" + ln.Addr().String()
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first := int(b.next.Add(1))
	var lastErr error
	// Twice round: a replica that is restarting may be back.
	for i := range 2 * len(b.backends) {
		backend := b.backends[(first+i)%len(b.backends)]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+backend+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := b.client.Do(req)
		if err != nil {
			lastErr = err
			if i >= len(b.backends)-1 {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica answered: "+lastErr.Error(), http.StatusBadGateway)
}

// sim is a running ghsim binary.
type sim struct {
	url     string
	config  string // the service config it wrote
	workDir string
}

func startSim(t *testing.T, webhookURL string, flags ...string) *sim {
	t.Helper()
	work := t.TempDir()
	addr := freeAddr(t)
	args := append([]string{"-listen", addr, "-webhook-url", webhookURL, "-releases", "v0.1.2",
		"-placeholder-packages", "-write-config", "sim.yml"}, flags...)
	start(t, work, "ghsim", nil, args...)
	s := &sim{url: "http://" + addr, config: filepath.Join(work, "sim.yml"), workDir: work}
	require.Eventually(t, func() bool { _, err := os.Stat(s.config); return err == nil },
		30*time.Second, 20*time.Millisecond, "ghsim writes sim.yml")
	return s
}

// simRun is an entry of GET /_sim/runs: the simulator's truth.
type simRun struct {
	ID         int64   `json:"id"`
	BuildID    string  `json:"build_id"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
}

func (s *sim) runs(t *testing.T) []simRun {
	t.Helper()
	resp, err := http.Get(s.url + "/_sim/runs")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var runs []simRun
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&runs))
	return runs
}

// slowDispatch is a proxy in front of ghsim's API that makes each
// workflow dispatch take d: in turn before GitHub sees it and after
// GitHub started the run, so that a crash of the caller meanwhile
// leaves a dispatch either undone or done without an answer. Whatever the
// caller does, the request goes on as it would on GitHub's side.
func slowDispatch(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var n atomic.Int64
	proxy.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/dispatches") {
			return http.DefaultTransport.RoundTrip(r)
		}
		before := n.Add(1)%2 == 1
		// Read the body, so that the server notices a caller that dies.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if before {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return nil, r.Context().Err() // never reached GitHub
			}
		}
		resp, err := http.DefaultTransport.RoundTrip(r.WithContext(context.WithoutCancel(r.Context())))
		if !before {
			time.Sleep(d)
		}
		return resp, err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// timing is the service's timing in these tests.
type timing struct {
	build, poll, timeout time.Duration
}

// serviceConfig writes the service's config: ghsim's, with the timing,
// and the API reached through apiURL when it is not empty.
func serviceConfig(t *testing.T, s *sim, tm timing, apiURL string) string {
	t.Helper()
	raw, err := os.ReadFile(s.config)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	if apiURL != "" {
		cfg["github"].(map[string]any)["v3_api_url"] = apiURL + "/api/v3/"
	}
	cfg["builds"] = map[string]string{
		"poll_interval":      tm.poll.String(),
		"timeout":            tm.timeout.String(),
		"retry_delay":        "300ms",
		"redeliver_interval": tm.poll.String(),
		"index_refresh":      "30s",
	}
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(s.workDir, "service.yml")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	return path
}

// replica is one build-service process slot: it can be killed and started
// again on the same address.
type replica struct {
	t      *testing.T
	n      int
	addr   string
	config string
	dbURL  string
	proc   *proc
}

func newReplica(t *testing.T, n int, config, dbURL string) *replica {
	return &replica{t: t, n: n, addr: freeAddr(t), config: config, dbURL: dbURL}
}

// start runs the replica and waits until it serves.
func (r *replica) start() {
	r.t.Helper()
	r.proc = start(r.t, filepath.Dir(r.config), fmt.Sprintf("build-service#%d", r.n),
		[]string{"DATABASE_URL=" + r.dbURL}, "-config", r.config, "-listen", r.addr, "-log-format", "json")
	require.Eventually(r.t, func() bool {
		resp, err := http.Get("http://" + r.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 20*time.Millisecond, "replica %d serves", r.n)
}

func (r *replica) url() string { return "http://" + r.addr }

// database creates a database of its own on the server at
// TEST_DATABASE_URL, dropped when the test ends, and returns its URL.
func database(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return createDatabase(t, url)
}

func createDatabase(t *testing.T, adminURL string) string {
	t.Helper()
	admin, err := pgx.Connect(t.Context(), adminURL)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	name := "chaos_" + strings.ToLower(crand.Text())
	_, err = admin.Exec(t.Context(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return // a private server already gone
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	cfg, err := pgx.ParseConfig(adminURL)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// privatePostgres is a Postgres server of the test's own, on a free port,
// that it may stop and start: the machine's is shared with other tests.
type privatePostgres struct {
	t        *testing.T
	bin, dir string
	port     int
	asUser   []string // runuser prefix when running as root
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			matches = []string{p}
		}
	}
	if len(matches) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("no initdb: a private Postgres server is needed")
		}
		t.Skip("no initdb: a private Postgres server is needed")
	}
	p := &privatePostgres{t: t, bin: filepath.Dir(matches[len(matches)-1])}
	// Not t.TempDir(): the server's user must reach it.
	dir, err := os.MkdirTemp("", "chaos-postgres-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p.dir = dir
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root.
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
		require.NoError(t, os.Chmod(p.dir, 0o777))
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p.port, _ = strconv.Atoi(port)
	p.run("initdb", "-D", filepath.Join(p.dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync")
	p.startServer()
	t.Cleanup(func() { p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "stop") })
	return p
}

func (p *privatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	cmd := append(append([]string{}, p.asUser...), append([]string{filepath.Join(p.bin, tool)}, args...)...)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil && !(tool == "pg_ctl" && strings.Contains(string(out), "Is server running?")) {
		require.NoError(p.t, err, "%s: %s", tool, out)
	}
}

func (p *privatePostgres) startServer() {
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-w",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, p.dir), "start")
}

// stop stops the server as an operator's fast shutdown does: sessions
// are cut.
func (p *privatePostgres) stop() {
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop")
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// answers counts the HTTP answers clients got, by status.
type answers struct {
	mu     sync.Mutex
	codes  map[int]int
	errors []string
}

func (a *answers) add(code int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.codes == nil {
		a.codes = map[int]int{}
	}
	if err != nil {
		a.errors = append(a.errors, err.Error())
		return
	}
	a.codes[code]++
}

// buildResult is what one loader saw of its build.
type buildResult struct {
	key      int
	id       string
	status   string
	reason   string
	accepted time.Time // the first 202 or 200
	ended    time.Time // when a terminal status was first seen
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// loader asks for the key's build as the driver-loader does: POST /build
// until accepted, then GET /status until the build ends, waiting as told
// on a 503.
func loader(ctx context.Context, base string, kernel string, ans *answers) (buildResult, error) {
	body := fmt.Sprintf(`{"kernel_version":%q,"architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`, kernel)
	var res buildResult
	var st struct {
		BuildID string `json:"build_id"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
	}
	wait := func(resp *http.Response) error {
		d := 200 * time.Millisecond
		if resp != nil {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				d = min(time.Duration(s)*time.Second, 2*time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	for {
		resp, err := httpClient.Post(base+"/build", "application/json", strings.NewReader(body))
		ans.add(code(resp), err)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
				res.accepted, res.id, res.status, res.reason = time.Now(), st.BuildID, st.Status, st.Reason
				break
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				return res, fmt.Errorf("POST /build answered %d", resp.StatusCode)
			}
		}
		if err := wait(resp); err != nil {
			return res, err
		}
	}
	return follow(ctx, base, res, ans)
}

// follow polls the build's status until it ends.
func follow(ctx context.Context, base string, res buildResult, ans *answers) (buildResult, error) {
	var st struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	wait := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
			return nil
		}
	}
	for res.status != "done" && res.status != "error" {
		if err := wait(); err != nil {
			return res, fmt.Errorf("build %s still %s: %w", res.id, res.status, err)
		}
		resp, err := httpClient.Get(base + "/status/" + res.id)
		ans.add(code(resp), err)
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && err == nil:
			res.status, res.reason = st.Status, st.Reason
		case resp.StatusCode != http.StatusServiceUnavailable:
			return res, fmt.Errorf("GET /status/%s answered %d", res.id, resp.StatusCode)
		}
	}
	res.ended = time.Now()
	return res, nil
}

func code(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

var errStuck = errors.New("stuck")
