package chaos

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// Sizes: CI's by default, larger by hand, e.g. the issue's
// CHAOS_BUILDS=300 CHAOS_KEYS=100 go test ./internal/chaos.
var (
	buildsN = envInt("CHAOS_BUILDS", 60)
	keysN   = envInt("CHAOS_KEYS", 20)
	outage  = envDuration("CHAOS_OUTAGE", 20*time.Second)
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

var chaosTiming = timing{build: time.Second, poll: time.Second, timeout: 30 * time.Second}

// everyFault is every ghsim fault at once. The hourly budget is real
// (headers, 403 at zero) but large enough not to stop the test for an hour.
func everyFault(tm timing) []string {
	return []string{
		"-build-duration", tm.build.String(), "-fail-kernels", "fail$",
		"-drop-webhooks", "0.2", "-duplicate-webhooks", "0.2", "-reorder-webhooks", "-delay-webhooks", "200ms",
		"-api-error-rate", "0.05", "-rate-limit", "50000", "-secondary-limit-rate", "0.02", "-secondary-retry-after", "1s",
		"-dispatch-ambiguous", "0.2",
	}
}

// kernelOf names key k's kernel; every fifth fails to build.
func kernelOf(k int) string {
	if k%5 == 4 {
		return fmt.Sprintf("6.8.0-%d-chaosfail", 3000+k)
	}
	return fmt.Sprintf("6.8.0-%d-chaos", 3000+k)
}

// env is ghsim and the replicas behind a balancer, on one database.
type env struct {
	sim      *sim
	replicas []*replica
	lb       *balancer
	tm       timing
	ans      answers
}

func newEnv(t *testing.T, dbURL string, replicas int, tm timing, simFlags ...string) *env {
	return newEnvSlow(t, dbURL, replicas, tm, 0, simFlags...)
}

// newEnvSlow is newEnv with each dispatch taking slow (0: as ghsim answers).
func newEnvSlow(t *testing.T, dbURL string, replicas int, tm timing, slow time.Duration, simFlags ...string) *env {
	t.Helper()
	e := &env{tm: tm}
	addrs := make([]string, replicas)
	// The balancer is the webhook URL too: any replica takes any delivery.
	lbAddrs := func() []string { return addrs }
	for i := range replicas {
		addrs[i] = freeAddr(t)
	}
	e.lb = newBalancer(t, lbAddrs()...)
	e.sim = startSim(t, e.lb.url+"/api/github/hook", simFlags...)
	api := ""
	if slow > 0 {
		api = slowDispatch(t, e.sim.url, slow)
	}
	config := serviceConfig(t, e.sim, tm, api)
	for i := range replicas {
		r := newReplica(t, i, config, dbURL)
		r.addr = addrs[i]
		e.replicas = append(e.replicas, r)
	}
	// Together, as a rollout of several replicas starts them.
	var wg sync.WaitGroup
	for _, r := range e.replicas {
		wg.Go(r.start)
	}
	wg.Wait()
	return e
}

// load runs n loaders across keys, in two halves, with midway run between
// them while the first half's builds are going on.
func (e *env) load(t *testing.T, n, keys int, midway func()) []buildResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e.tm.timeout+2*time.Minute)
	defer cancel()
	results := make([]buildResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	run := func(from, to int) {
		for i := from; i < to; i++ {
			wg.Go(func() {
				results[i], errs[i] = loader(ctx, e.lb.url, kernelOf(i%keys), &e.ans)
				results[i].key = i % keys
			})
		}
	}
	run(0, n/2)
	if midway == nil {
		// Late loaders: some find their build ended, some the package.
		midway = func() { time.Sleep(e.tm.build + e.tm.poll) }
	}
	midway()
	run(n/2, n)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "loader %d (key %d)", i, i%keys)
	}
	return results
}

// check holds the outcome to the simulator's truth: every build ended as
// its run did, one run per key unless a timeout allowed another, nothing
// stuck past the timeout plus a poll interval, every request answered.
func (e *env) check(t *testing.T, results []buildResult) {
	t.Helper()
	runs := e.sim.runs(t)
	byBuild := map[string][]simRun{}
	for _, r := range runs {
		byBuild[r.BuildID] = append(byBuild[r.BuildID], r)
	}
	keyOf := map[string]int{}
	timedOut := map[int]bool{}
	for _, res := range results {
		if res.id == "" { // the package was there already
			require.Equal(t, "done", res.status, "key %d", res.key)
			continue
		}
		if prev, ok := keyOf[res.id]; ok {
			require.Equal(t, prev, res.key, "build %s serves one key", res.id)
		}
		keyOf[res.id] = res.key
		if res.reason == "timed_out" {
			timedOut[res.key] = true
		}
		// The loader sees the end within its 200ms of polling; the
		// balancer and a 503's Retry-After add a little.
		require.LessOrEqual(t, res.ended.Sub(res.accepted), e.tm.timeout+e.tm.poll+3*time.Second,
			"build %s (key %d) took too long: %s", res.id, res.key, res.ended.Sub(res.accepted))
		rs := byBuild[res.id]
		if res.reason == "timed_out" {
			continue
		}
		require.Len(t, rs, 1, "build %s (key %d) has one run", res.id, res.key)
		want := map[string][2]string{"success": {"done", ""}, "failure": {"error", "build_failed"}}
		require.NotNil(t, rs[0].Conclusion, "run %d of build %s is over", rs[0].ID, res.id)
		w, ok := want[*rs[0].Conclusion]
		require.True(t, ok, "run %d concluded %s", rs[0].ID, *rs[0].Conclusion)
		require.Equal(t, w, [2]string{res.status, res.reason}, "build %s ended as its run %d did", res.id, rs[0].ID)
		require.Equal(t, strings.HasSuffix(kernelOf(res.key), "fail"), res.status == "error", "key %d", res.key)
	}
	perKey := map[int]int{}
	for _, r := range runs {
		k, ok := keyOf[r.BuildID]
		require.True(t, ok, "run %d (build %q) is of a build a loader asked for", r.ID, r.BuildID)
		perKey[k]++
	}
	for k := range perKey {
		if !timedOut[k] {
			require.Equal(t, 1, perKey[k], "key %d: one run", k)
		}
	}
	e.ans.mu.Lock()
	defer e.ans.mu.Unlock()
	require.Empty(t, e.ans.errors, "every request answered")
	for c := range e.ans.codes {
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted, http.StatusServiceUnavailable}, c, "answers: %v", e.ans.codes)
	}
	t.Logf("%d builds, %d keys, %d runs; answers %v", len(results), len(perKey), len(runs), e.ans.codes)
}

// Every ghsim fault at once on two replicas.
func TestChaosEveryFault(t *testing.T) {
	t.Parallel()
	db := database(t)
	began := time.Now()
	e := newEnv(t, db, 2, chaosTiming, everyFault(chaosTiming)...)
	results := e.load(t, buildsN, keysN, nil)
	e.check(t, results)

	// The periodic poll ran on one replica, River's leader: once an
	// interval, not once per replica.
	conn, err := pgx.Connect(t.Context(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var polls int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'poll_builds'`).Scan(&polls))
	intervals := int(time.Since(began) / chaosTiming.poll)
	require.Positive(t, polls)
	require.LessOrEqual(t, polls, intervals+2, "%d polls in %d intervals", polls, intervals)
}

// With every webhook lost, the poller finishes every build.
func TestChaosEveryWebhookDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, database(t), 2, chaosTiming, "-build-duration", chaosTiming.build.String(),
		"-fail-kernels", "fail$", "-drop-webhooks", "1")
	results := e.load(t, buildsN, keysN, nil)
	e.check(t, results)
}

// One replica killed in the middle: the other finishes everything.
func TestChaosReplicaKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, database(t), 2, chaosTiming, everyFault(chaosTiming)...)
	results := e.load(t, buildsN, keysN, func() {
		time.Sleep(300 * time.Millisecond) // dispatches and runs going on
		e.replicas[0].proc.signal(syscall.SIGKILL)
	})
	e.check(t, results)
}

// Postgres stopped for a while in the middle: /readyz fails and /healthz
// lives, the API answers 503 with Retry-After in seconds, webhooks 5xx;
// when it is back, everything finishes with nobody touching anything.
func TestChaosDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	e := newEnv(t, createDatabase(t, pg.url()), 2, chaosTiming, everyFault(chaosTiming)...)
	results := e.load(t, buildsN, keysN, func() {
		time.Sleep(300 * time.Millisecond)
		pg.stop()
		stopped := time.Now()
		for _, r := range e.replicas {
			e.duringOutage(t, r)
		}
		time.Sleep(time.Until(stopped.Add(outage)))
		pg.startServer()
	})
	e.check(t, results)
	for _, r := range e.replicas {
		resp, err := http.Get(r.url() + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "replica %d ready again", r.n)
	}
}

// duringOutage checks one replica's answers while the database is down.
func (e *env) duringOutage(t *testing.T, r *replica) {
	t.Helper()
	timed := func(what string, do func() (*http.Response, error)) *http.Response {
		t.Helper()
		began := time.Now()
		resp, err := do()
		require.NoError(t, err, what)
		resp.Body.Close()
		require.Less(t, time.Since(began), 5*time.Second, "%s answered in time", what)
		return resp
	}
	resp := timed("POST /build", func() (*http.Response, error) {
		return http.Post(r.url()+"/build", "application/json", strings.NewReader(
			`{"kernel_version":"6.8.0-4999-outage","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`))
	})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "POST /build")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp = timed("GET /status", func() (*http.Response, error) {
		return http.Get(r.url() + "/status/01a230bb-bab6-7d3f-b308-ebbaf91a82a8")
	})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "GET /status")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp = timed("GET /readyz", func() (*http.Response, error) { return http.Get(r.url() + "/readyz") })
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "GET /readyz")
	resp = timed("GET /healthz", func() (*http.Response, error) { return http.Get(r.url() + "/healthz") })
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /healthz")
	resp = timed("a webhook", func() (*http.Response, error) { return e.webhook(t, r) })
	require.GreaterOrEqual(t, resp.StatusCode, 500, "a webhook that cannot be recorded fails, for redelivery")
}

// webhook posts a signed workflow_run delivery to the replica, as GitHub would.
func (e *env) webhook(t *testing.T, r *replica) (*http.Response, error) {
	t.Helper()
	raw, err := os.ReadFile(e.sim.config)
	require.NoError(t, err)
	var cfg struct {
		GitHub struct {
			App struct {
				WebhookSecret string `yaml:"webhook_secret"`
			} `yaml:"app"`
		} `yaml:"github"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	body := []byte(`{"action":"completed","workflow_run":{"id":99999,"name":"driver-build","display_title":"build 01a230bb-bab6-7d3f-b308-ebbaf91a82a8: ubuntu 24.04 6.8.0-4999-outage x86_64 v0.1.2","path":".github/workflows/driver-build.yml","event":"workflow_dispatch","status":"completed","conclusion":"success","html_url":"http://x/runs/99999"},"repository":{"full_name":"riptides/driver","name":"driver","owner":{"login":"riptides"}},"installation":{"id":1}}`)
	mac := hmac.New(sha256.New, []byte(cfg.GitHub.App.WebhookSecret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, r.url()+"/api/github/hook", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", "6d919dd7-d435-4f59-b6ba-38188717b000")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	return http.DefaultClient.Do(req)
}

// kill -9 at a random moment in the first second after a 202, then a
// restart: each build is done within the build time plus two poll
// intervals of the restart, with one run per key.
func TestCrashRightAfterAccept(t *testing.T) {
	t.Parallel()
	tm := timing{build: time.Second, poll: 3 * time.Second, timeout: time.Minute}
	// A dispatch that takes a while, so that kills land in it.
	e := newEnvSlow(t, database(t), 1, tm, 600*time.Millisecond, "-build-duration", tm.build.String())
	r := e.replicas[0]
	rounds := envInt("CHAOS_CRASHES", 6)
	var all []buildResult
	for round := range rounds {
		kernel := fmt.Sprintf("6.8.0-%d-crash", 5000+round)
		body := fmt.Sprintf(`{"kernel_version":%q,"architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`, kernel)
		resp, err := http.Post(r.url()+"/build", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		var accepted struct {
			BuildID string `json:"build_id"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&accepted))
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		time.Sleep(rand.N(time.Second))
		r.proc.signal(syscall.SIGKILL)
		r.start()
		restarted := time.Now()

		ctx, cancel := context.WithTimeout(t.Context(), tm.timeout)
		res, err := follow(ctx, r.url(), buildResult{id: accepted.BuildID, status: "queued"}, &e.ans)
		cancel()
		require.NoError(t, err)
		require.Equal(t, "done", res.status, "round %d", round)
		require.Less(t, res.ended.Sub(restarted), tm.build+2*tm.poll+500*time.Millisecond,
			"round %d: done within the build and two poll intervals of the restart", round)
		res.key = round
		all = append(all, res)
	}
	byKey := map[string]int{}
	for _, run := range e.sim.runs(t) {
		byKey[run.BuildID]++
	}
	for _, res := range all {
		require.Equal(t, 1, byKey[res.id], "build %s: one run", res.id)
	}
}

// A rolling restart: each replica in turn gets SIGTERM mid-way, stops
// taking requests, finishes what it was doing within the shutdown window
// and exits cleanly, and starts again. Nothing is lost and every request
// is answered.
func TestChaosRollingRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, database(t), 2, chaosTiming, everyFault(chaosTiming)...)
	results := e.load(t, buildsN, keysN, func() {
		for _, r := range e.replicas {
			time.Sleep(300 * time.Millisecond)
			began := time.Now()
			r.proc.signal(syscall.SIGTERM)
			require.Less(t, time.Since(began), 20*time.Second, "replica %d stops within the shutdown window", r.n)
			require.Equal(t, 0, r.proc.cmd.ProcessState.ExitCode(), "replica %d exits cleanly", r.n)
			r.start()
		}
	})
	e.check(t, results)
}
