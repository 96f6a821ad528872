package ghsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// waitFor bounds waits for asynchronous events; it is a safety net, not
// an expectation about timing.
const waitFor = 20 * time.Second

// testBuildDuration keeps simulated runs short.
const testBuildDuration = 60 * time.Millisecond

// startSim runs a simulator on a real listener for the test's lifetime.
func startSim(t testing.TB, cfg ghsim.Config) *ghsim.Server {
	t.Helper()
	if cfg.BuildDuration == 0 {
		cfg.BuildDuration = testBuildDuration
	}
	sim, err := ghsim.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { require.NoError(t, sim.Close()) })
	return sim
}

// newTestServer serves sim through Handler, the way a test that owns the
// listener does.
func newTestServer(t *testing.T, sim *ghsim.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(sim.Handler())
	sim.SetBaseURL(ts.URL)
	t.Cleanup(ts.Close)
	return ts
}

func apiURL(sim *ghsim.Server) string { return sim.URL() + "/api/v3" }

// appClient is a go-github client authenticated as the app, the way
// go-githubapp builds one.
func appClient(t testing.TB, sim *ghsim.Server) *github.Client {
	t.Helper()
	tr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, sim.AppID(), sim.PrivateKeyPEM())
	require.NoError(t, err)
	tr.BaseURL = apiURL(sim)
	c, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(sim.URL(), sim.URL())
	require.NoError(t, err)
	return c
}

// installationClient is a go-github client authenticated as the installation.
func installationClient(t testing.TB, sim *ghsim.Server) *github.Client {
	t.Helper()
	tr, err := ghinstallation.New(http.DefaultTransport, sim.AppID(), sim.InstallationID(), sim.PrivateKeyPEM())
	require.NoError(t, err)
	tr.BaseURL = apiURL(sim)
	c, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(sim.URL(), sim.URL())
	require.NoError(t, err)
	return c
}

func installationToken(t testing.TB, sim *ghsim.Server) string {
	t.Helper()
	tok, _, err := appClient(t, sim).Apps.CreateInstallationToken(context.Background(), sim.InstallationID(), nil)
	require.NoError(t, err)
	return tok.GetToken()
}

// call makes a raw request with the given Authorization header value.
func call(t testing.TB, method, url, auth string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if raw, ok := body.(string); ok {
			rd = bytes.NewReader([]byte(raw))
		} else {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// upload puts an asset on a release through the uploads API.
func upload(t *testing.T, sim *ghsim.Server, token string, releaseID int64, name string, data []byte) *http.Response {
	t.Helper()
	url := sim.URL() + "/api/uploads/repos/riptides/driver/releases/" + strconv.FormatInt(releaseID, 10) + "/assets?name=" + name
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}

// hook is one webhook the receiver got.
type hook struct {
	Event, Action string
	Header        http.Header
	Body          []byte
}

// receiver is a webhook endpoint that records deliveries.
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	hooks  []hook
	signal chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{signal: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var head struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &head)
		rc.mu.Lock()
		rc.hooks = append(rc.hooks, hook{Event: r.Header.Get("X-GitHub-Event"), Action: head.Action, Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		select {
		case rc.signal <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL }

// waitHook waits for a hook that match accepts and returns it.
func (rc *receiver) waitHook(t *testing.T, match func(hook) bool) hook {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		rc.mu.Lock()
		for _, h := range rc.hooks {
			if match(h) {
				rc.mu.Unlock()
				return h
			}
		}
		rc.mu.Unlock()
		select {
		case <-rc.signal:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			require.FailNow(t, "webhook not received")
		}
	}
}

func (rc *receiver) all() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.hooks...)
}

// runHook matches a hook about run id with the given event and action.
func runHook(event, action string, runID int64) func(hook) bool {
	return func(h hook) bool {
		if h.Event != event || h.Action != action {
			return false
		}
		var body struct {
			WorkflowRun struct{ ID int64 } `json:"workflow_run"`
			WorkflowJob struct {
				RunID int64 `json:"run_id"`
			} `json:"workflow_job"`
		}
		if json.Unmarshal(h.Body, &body) != nil {
			return false
		}
		return body.WorkflowRun.ID == runID || body.WorkflowJob.RunID == runID
	}
}

// buildInputs are valid dispatch inputs for a kernel.
func buildInputs(kernel string) map[string]any {
	return map[string]any{
		"kernel_version": kernel,
		"architecture":   "x86_64",
		"distribution":   "ubuntu",
		"distro_version": "24.04",
		"driver_version": "v0.1.2",
		"build_id":       "b-" + kernel,
	}
}

// dispatch dispatches the workflow and returns the run id.
func dispatch(t *testing.T, sim *ghsim.Server, token, kernel string) int64 {
	t.Helper()
	resp, body := call(t, http.MethodPost, apiURL(sim)+"/repos/riptides/driver/actions/workflows/driver-build.yml/dispatches",
		"Bearer "+token, map[string]any{"ref": "main", "inputs": buildInputs(kernel), "return_run_details": true})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var details struct {
		WorkflowRunID int64 `json:"workflow_run_id"`
	}
	require.NoError(t, json.Unmarshal(body, &details))
	return details.WorkflowRunID
}

// waitCompleted polls the run until it completes and returns it.
func waitCompleted(t *testing.T, gh *github.Client, runID int64) *github.WorkflowRun {
	t.Helper()
	var run *github.WorkflowRun
	require.Eventually(t, func() bool {
		var err error
		run, _, err = gh.Actions.GetWorkflowRunByID(context.Background(), "riptides", "driver", runID)
		require.NoError(t, err)
		return run.GetStatus() == "completed"
	}, waitFor, 10*time.Millisecond)
	return run
}
