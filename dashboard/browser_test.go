package dashboard_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/internal/e2e"
)

var screenshot = flag.String("screenshot", filepath.Join("..", "_artifacts", "dashboard.png"),
	"where TestDashboardInBrowser saves what the page shows; ../docs/dashboard.png is the README's")

// browser starts Debian's chromium, headless, for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: apt-get install chromium (.ci/run does)")
		}
		t.Skip("chromium is not installed: apt-get install chromium (.ci/run does)")
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		// The machine's network is closed: without these, chromium's own
		// connections are refused and slow it down.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	return ctx
}

const adminToken = "dashboard-admin-token"

// login answers the page's login prompts (basic auth) as a person does,
// with user and password, and counts them.
func login(t *testing.T, ctx context.Context, user, password string) *atomic.Int32 {
	t.Helper()
	var prompts atomic.Int32
	// Listen's callback must not call the browser: the events are answered
	// from another goroutine.
	events := make(chan any, 4096)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		switch ev.(type) {
		case *fetch.EventRequestPaused, *fetch.EventAuthRequired:
			events <- ev
		}
	}))
	go func() {
		for {
			var ev any
			select {
			case <-ctx.Done():
				return
			case ev = <-events:
			}
			switch e := ev.(type) {
			case *fetch.EventRequestPaused:
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
			case *fetch.EventAuthRequired:
				prompts.Add(1)
				_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: e.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{
						Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password,
					}})
			}
		}
	}()
	handle := true
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle})
	require.NoError(t, err)
	return &prompts
}

// row is a build's row as the page shows it.
type row struct {
	ID   string `json:"id"`
	Step string `json:"step"`
	Text string `json:"text"`
}

// rows reads what the page lists in a section, as a person reads it.
func rows(t *testing.T, ctx context.Context, section string) []row {
	t.Helper()
	rs, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#`+section+` tbody tr")]
		.filter((tr) => tr.offsetParent !== null)
		.map((tr) => ({id: tr.dataset.buildId, step: tr.querySelector(".step")?.textContent ?? "", text: tr.innerText}))`))
	require.NoError(t, err)
	return rs
}

func text(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+quote(selector)+`).innerText`))
	require.NoError(t, err)
	return s
}

func visible(t *testing.T, ctx context.Context, selector string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+quote(selector)+`).checkVisibility()`))
	require.NoError(t, err)
	return v
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func find(rs []row, id string) (row, bool) {
	i := slices.IndexFunc(rs, func(r row) bool { return r.ID == id })
	if i < 0 {
		return row{}, false
	}
	return rs[i], true
}

// post asks for a build for a kernel of ubuntu 24.04, or of the
// distribution and version that follow it.
func post(t *testing.T, env *e2e.Env, kernel string, distro ...string) string {
	t.Helper()
	if distro == nil {
		distro = []string{"ubuntu", "24.04"}
	}
	body, err := json.Marshal(map[string]string{"kernel_version": kernel, "architecture": "x86_64",
		"distribution": distro[0], "distro_version": distro[1], "driver_version": "v0.1.2"})
	require.NoError(t, err)
	resp, err := http.Post(env.ServiceURL+"/build", "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	var a buildapi.Accepted
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return a.BuildID
}

func status(t *testing.T, env *e2e.Env, id string) buildapi.Build {
	t.Helper()
	resp, err := http.Get(env.ServiceURL + "/status/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b buildapi.Build
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	return b
}

// TestDashboardInBrowser follows real builds on the page, in chromium,
// without reloading it: in flight at the step the workflow runs, then among
// the recent builds, done or failed with its reason; the next build of the
// distribution gets an estimate from the first.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	env := e2e.Start(t, e2e.Options{BuildDuration: 12 * time.Second, FailKernels: regexp.MustCompile(`-broken$`),
		// Every kernels.json pull request fails its check, and so stays
		// open for the page to show.
		Simulate: func(c *ghsim.Config) { c.FailChecks = regexp.MustCompile(`^add-kernel/`) },
		Configure: func(c *app.Config) {
			c.API.Clients = []handlers.Client{{Name: "ops", Role: handlers.RoleAdmin, SHA256: handlers.HashToken(adminToken)}}
		}})
	prompts := login(t, ctx, "ops", adminToken)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(env.ServiceURL+"/")))
	require.Positive(t, prompts.Load(), "the page did not ask for a login")
	require.Eventually(t, func() bool { return strings.HasPrefix(text(t, ctx, "#live"), "live") },
		10*time.Second, 100*time.Millisecond, "the page never heard from the service")
	require.Equal(t, "No build in flight.", text(t, ctx, "#in-flight .empty"))
	require.Equal(t, "No pull request is open: kernels.json lists every kernel built.", text(t, ctx, "#pull-requests .empty"))

	first := post(t, env, "6.8.0-1053-gcp")
	broken := post(t, env, "6.8.0-1060-broken")
	post(t, env, "6.14.0-63.fc42.x86_64", "fedora", "42")
	post(t, env, "6.1.0-28-amd64", "debian", "12")

	// While it runs: in flight, at the step the service knows.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r, ok := find(rows(t, ctx, "in-flight"), first)
		if !assert.True(c, ok, "the first build is not in flight") {
			return
		}
		assert.Contains(c, r.Text, "6.8.0-1053-gcp")
		assert.Contains(c, r.Text, "no estimate yet", "no ubuntu build is done yet")
		_, step, _ := strings.Cut(status(t, env, first).Progress, ": ")
		assert.NotEmpty(c, step, "the service knows no step yet")
		assert.Equal(c, step, r.Step, "the step the page shows")
	}, 20*time.Second, 100*time.Millisecond)

	// After: among the recent builds, done, and no longer in flight.
	require.Eventually(t, func() bool {
		r, ok := find(rows(t, ctx, "recent"), first)
		_, running := find(rows(t, ctx, "in-flight"), first)
		return ok && strings.Contains(r.Text, "done") && !running
	}, 30*time.Second, 100*time.Millisecond, "the first build never showed as done")
	require.Eventually(t, func() bool {
		r, ok := find(rows(t, ctx, "recent"), broken)
		return ok && strings.Contains(r.Text, "error: build failed")
	}, 30*time.Second, 100*time.Millisecond, "the broken build never showed as failed")
	require.Eventually(t, func() bool {
		return strings.Contains(text(t, ctx, "#failures"), "build failed\nubuntu")
	}, 10*time.Second, 100*time.Millisecond, "failure reasons: %s", text(t, ctx, "#failures"))
	// The release the done builds' packages went to, and how full it is.
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`v0\.1\.2\n[1-9][0-9]* / 1000`).MatchString(text(t, ctx, "#releases"))
	}, 10*time.Second, 100*time.Millisecond, "releases: %s", text(t, ctx, "#releases"))

	// The done build's kernel is proposed for kernels.json; its check fails
	// and the pull request stays open.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		prs := text(t, ctx, "#pull-requests tbody")
		assert.Contains(c, prs, "6.8.0-1053-gcp")
		assert.Contains(c, prs, "a required check failed")
		assert.Regexp(c, `#\d+`, prs, "the pull request's number")
		assert.NotContains(c, prs, "6.8.0-1060-broken", "a failed build proposes nothing")
	}, 30*time.Second, 100*time.Millisecond)

	// Each build links to its timeline.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`#recent tr[data-build-id="`+first+`"] a[href^="#build/"]`)))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.True(c, visible(t, ctx, "#timeline"), "the timeline is not shown")
		events := text(t, ctx, "#timeline .events")
		assert.Contains(c, events, "created, queued")
		assert.Contains(c, events, "in progress → done")
		assert.Contains(c, events, "by api")
		assert.Contains(c, text(t, ctx, "#timeline .subtitle"), "6.8.0-1053-gcp")
	}, 10*time.Second, 100*time.Millisecond)
	shot(t, ctx, filepath.Join("..", "_artifacts", "dashboard-timeline.png"))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`#timeline .close`)))
	require.Eventually(t, func() bool { return !visible(t, ctx, "#timeline") }, 5*time.Second, 50*time.Millisecond,
		"the timeline stays open after Close")

	// The next ubuntu build is judged by the first.
	next := post(t, env, "6.8.0-1071-gcp")
	var r row
	require.Eventually(t, func() bool {
		var ok bool
		r, ok = find(rows(t, ctx, "in-flight"), next)
		return ok && r.Step != ""
	}, 20*time.Second, 100*time.Millisecond, "the next build never showed in flight")
	require.Regexp(t, `about \d+s left|longer than usual`, r.Text)
	require.Contains(t, r.Text, "median of 1 build")

	fleet, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`[...document.querySelectorAll("#fleet g[data-kernel]")]
		.reduce((by, g) => ({...by, [g.dataset.distribution]: [...(by[g.dataset.distribution] ?? []), g.dataset.kernel]}), {})`))
	require.NoError(t, err)
	require.Len(t, fleet, 3, "the fleet by distribution: %v", fleet)
	require.ElementsMatch(t, []string{"6.8.0-1053-gcp", "6.8.0-1060-broken", "6.8.0-1071-gcp"}, fleet["ubuntu"])
	require.Equal(t, []string{"6.14.0-63.fc42.x86_64"}, fleet["fedora"])
	require.Equal(t, []string{"6.1.0-28-amd64"}, fleet["debian"])

	shot(t, ctx, *screenshot)
}

// shot saves what the page shows.
func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, png, 0o644))
}
