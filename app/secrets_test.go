package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/store/storetest"
)

// transcript is everything the service wrote: its log and its answers.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tr *transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// recorder copies each answer's headers and body into the transcript.
func (tr *transcript) recorder(resp *http.Response) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var h bytes.Buffer
	_ = resp.Header.Write(&h)
	_, _ = tr.Write(append(append(h.Bytes(), b...), '\n'))
	return nil
}

type recordingTransport struct{ tr *transcript }

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	return resp, rt.tr.recorder(resp)
}

// A scripted build with every secret set: no secret may appear in the
// log (at debug level) nor in any answer, to loaders or to GitHub, and
// the log lines carry the ids that tie them together.
func TestNoSecretIsWritten(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		scanForSecrets(t, "", "")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		// The service opens the database from a URL with a password
		// (which trust authentication ignores), in a schema of its own.
		raw, schema := storetest.PostgresSchema(t)
		u, err := url.Parse(raw)
		require.NoError(t, err)
		const password = "db-password-5e1b"
		u.User = url.UserPassword(u.User.Username(), password)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		scanForSecrets(t, u.String(), password)
	})
}

func scanForSecrets(t *testing.T, databaseURL, dbPassword string) {
	var out transcript
	client := &http.Client{Transport: recordingTransport{&out}}

	// GitHub's webhooks reach the service through a proxy that records
	// the service's answers to them.
	svcLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svcURL, _ := url.Parse("http://" + svcLn.Addr().String())
	proxy := httputil.NewSingleHostReverseProxy(svcURL)
	proxy.ModifyResponse = out.recorder
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	proxySrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = proxySrv.Serve(proxyLn) }()
	t.Cleanup(func() { _ = proxySrv.Close() })

	cfg := app.Defaults()
	sim, err := ghsim.New(ghsim.Config{
		WebhookURL: "http://" + proxyLn.Addr().String() + "/api/github/hook", Releases: ghsim.DefaultReleases,
		BuildDuration: 300 * time.Millisecond,
		FailKernels:   regexp.MustCompile(`-1099-`),
	})
	require.NoError(t, err)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(simLn)
	t.Cleanup(func() { _ = sim.Close() })
	// Failures make the service log errors about its calls to GitHub.
	for _, f := range []ghsim.Fault{
		{Route: "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", Status: http.StatusBadGateway},
		{Route: "GET /api/v3/repos/{owner}/{repo}/actions/runs/{run_id}", Status: http.StatusInternalServerError, Count: 3},
	} {
		require.NoError(t, sim.InjectFault(f))
	}

	cfg = app.SimConfig(cfg, sim)
	withClients(&cfg)
	cfg.Builds.PollInterval = 500 * time.Millisecond
	cfg.Builds.RetryDelay = 200 * time.Millisecond
	cfg.DatabaseURL, cfg.DataDir = databaseURL, t.TempDir()
	log := zerolog.New(&out).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	svc, err := app.Start(log.WithContext(context.Background()), cfg, app.Deps{Listener: svcLn})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Close(ctx)
	})
	base := svcURL.String()
	do := func(method, path, body string, auth func(*http.Request)) *http.Response {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != nil {
			auth(req)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	buildOf := func(kernel string) string {
		req, err := http.NewRequest(http.MethodPost, base+"/build", strings.NewReader(request(kernel)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		bearer(loaderToken)(req)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		var s status
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
		return s.BuildID
	}
	finished := func(id string) bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/status/"+id, nil)
		bearer(loaderToken)(req)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s status
		return json.NewDecoder(resp.Body).Decode(&s) == nil && terminal(s)
	}

	good, bad := buildOf("6.8.0-1053-gcp"), buildOf("6.8.0-1099-gcp")
	require.Eventually(t, func() bool { return finished(good) && finished(bad) }, 30*time.Second, 50*time.Millisecond)

	// Callers that get things wrong, some holding a secret in the wrong place.
	secret := cfg.GitHub.App.WebhookSecret
	do(http.MethodGet, "/status/"+good, "", bearer(secret))
	do(http.MethodGet, "/api/builds", "", bearer(loaderToken))
	do(http.MethodGet, "/api/builds", "", basic("ops", adminToken))
	do(http.MethodGet, "/api/builds", "", basic(secret, legacyToken))
	do(http.MethodPost, "/build", `{"kernel_version":"6.8.0-1053-gcp","token":"`+loaderToken+`"}`, bearer(loaderToken))
	hook, err := http.NewRequest(http.MethodPost, "http://"+proxyLn.Addr().String()+"/api/github/hook", strings.NewReader(`{"action":"completed"}`))
	require.NoError(t, err)
	hook.Header.Set("X-GitHub-Event", "workflow_run")
	hook.Header.Set("X-GitHub-Delivery", "forged-delivery")
	hook.Header.Set("X-Hub-Signature-256", "sha256=00")
	resp, err := http.DefaultClient.Do(hook)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	written := out.String()
	secrets := map[string]string{
		"webhook secret": secret, "loader token": loaderToken, "admin token": adminToken, "plain api.tokens entry": legacyToken,
	}
	if dbPassword != "" {
		secrets["database password"] = dbPassword
	}
	for _, line := range strings.Split(cfg.GitHub.App.PrivateKey, "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			secrets["private key line "+line[:8]] = line
		}
	}
	for _, line := range strings.Split(written, "\n") {
		for name, s := range secrets {
			require.NotContains(t, line, s, "the %s was written", name)
		}
		require.NotRegexp(t, `ghs_[A-Za-z0-9]{36}`, line, "an installation token was written")
		require.NotRegexp(t, `eyJ[A-Za-z0-9_-]{8,}\.eyJ`, line, "the App's JWT was written")
	}

	// The transcript is not empty by accident: it holds the answers and
	// the log lines, which carry the ids of what they are about.
	require.Contains(t, written, `"status":"done"`)
	var lines []map[string]any
	for _, l := range strings.Split(written, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["level"] != nil {
			lines = append(lines, m)
		}
	}
	has := func(what string, match func(map[string]any) bool) {
		t.Helper()
		for _, l := range lines {
			if match(l) {
				return
			}
		}
		require.Failf(t, "no such log line", "%s, in:\n%s", what, written)
	}
	has("a status request with request_id and build_id", func(l map[string]any) bool {
		return l["message"] == "request" && l["request_id"] != nil && l["build_id"] == good && l["client"] == "fleet"
	})
	has("a webhook with request_id and delivery_id", func(l map[string]any) bool {
		return l["message"] == "webhook" && l["request_id"] != nil && l["delivery_id"] != nil && l["status"] == float64(200)
	})
	has("a dispatch with build_id and run_id", func(l map[string]any) bool {
		return l["message"] == "workflow dispatched" && l["build_id"] != nil && l["run_id"] != nil
	})
	has("the warning about plain tokens", func(l map[string]any) bool {
		return l["level"] == "warn" && strings.Contains(l["message"].(string), "api.tokens")
	})
}
