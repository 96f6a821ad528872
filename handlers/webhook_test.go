package handlers_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/internal/fixtures"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

const (
	secret = "fixture-secret"
	repo   = "riptides/driver"
	tag    = "v0.1.2"
	pkg    = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
)

// noGitHub fails the test on any call: with the asset index filled, no
// webhook needs GitHub.
type noGitHub struct{ t *testing.T }

func (g noGitHub) fail() { g.t.Helper(); g.t.Error("unexpected GitHub call") }
func (g noGitHub) Dispatch(context.Context, map[string]string) (ghclient.RunRef, error) {
	g.fail()
	return ghclient.RunRef{}, nil
}
func (g noGitHub) Run(context.Context, int64) (ghclient.Run, error) {
	g.fail()
	return ghclient.Run{}, nil
}
func (g noGitHub) FindRun(context.Context, time.Time, func(string) bool) (ghclient.Run, bool, error) {
	g.fail()
	return ghclient.Run{}, false, nil
}
func (g noGitHub) CancelRun(context.Context, int64) error { g.fail(); return nil }
func (g noGitHub) Releases(context.Context) ([]ghclient.Release, error) {
	g.fail()
	return nil, nil
}
func (g noGitHub) Assets(context.Context, int64, string) ([]ghclient.Asset, string, bool, error) {
	g.fail()
	return nil, "", false, nil
}
func (g noGitHub) Deliveries(context.Context, time.Time) ([]ghclient.Delivery, error) {
	g.fail()
	return nil, nil
}
func (g noGitHub) Redeliver(context.Context, int64) error { g.fail(); return nil }
func (g noGitHub) Published(context.Context, string, string) (string, bool, error) {
	g.fail()
	return "", false, nil
}
func (g noGitHub) DownloadURL(string, string) string { g.fail(); return "" }

type harness struct {
	t       *testing.T
	st      store.Store
	srv     *httptest.Server
	build   store.Build
	metrics *handlers.Metrics
	log     syncBuffer
}

// syncBuffer is a log the server's goroutines write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t *testing.T, lister ...handlers.Lister) *harness {
	t.Helper()
	return newHarnessWith(t, func(e *handlers.WebhookEndpoint) {
		if len(lister) > 0 {
			e.Base.Lister = lister[0]
		}
	})
}

// newHarnessWith is newHarness with the endpoint adjusted by configure.
func newHarnessWith(t *testing.T, configure func(*handlers.WebhookEndpoint)) *harness {
	t.Helper()
	st := storetest.SQLite(t)
	ctx := t.Context()
	svc := builds.New(builds.Config{
		Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), Workflow: "driver-build.yml",
		Cooldown: time.Minute, Timeout: time.Hour,
	}, st, noGitHub{t})
	h := &harness{t: t, st: st, metrics: handlers.NewMetrics()}
	endpoint := &handlers.WebhookEndpoint{
		Secret: secret, Base: handlers.Base{Observer: svc, Repo: repo}, Deliveries: st, Metrics: h.metrics,
		// One instant: the refusal log's rate limit never lets a second line through.
		Now: func() time.Time { return time.Unix(1e9, 0) },
	}
	configure(endpoint)
	log := zerolog.New(&h.log)
	mux := http.NewServeMux()
	mux.Handle(githubapp.DefaultWebhookRoute, hlog.NewHandler(log)(endpoint.Handler()))
	mux.Handle("GET /metrics", h.metrics.Handler())
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)

	b, created, err := st.BuildCreate(ctx, store.BuildCreateParams{
		ID: uuid.NewString(), CacheKey: "6.8.0-1053-gcp:x86_64:ubuntu:24.04:v0.1.2", Package: pkg,
		Request: kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu",
			DistroVersion: "24.04", DriverVersion: tag},
		Now: time.Now(),
	})
	require.NoError(t, err)
	require.True(t, created)
	h.build = b
	return h
}

// fixture loads a real payload and applies edits to it, given as paths
// into the JSON object, so that it describes this harness's build.
func fixture(t *testing.T, name string, edits map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "github-webhooks", name), &doc))
	for path, v := range edits {
		obj := doc
		keys := splitPath(path)
		for _, k := range keys[:len(keys)-1] {
			obj = obj[k].(map[string]any)
		}
		obj[keys[len(keys)-1]] = v
	}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return b
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := range len(p) {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// guid is the delivery id GitHub would send for a test's short name: the
// same name, the same UUID.
func guid(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String()
}

// send delivers a payload signed with key as GitHub would, under the
// delivery id guid(delivery).
func (h *harness) send(event, delivery string, body []byte, key string) int {
	h.t.Helper()
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return h.post(body, map[string]string{
		"X-GitHub-Event": event, "X-GitHub-Delivery": guid(delivery),
		"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
	})
}

func (h *harness) post(body []byte, headers map[string]string) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+githubapp.DefaultWebhookRoute, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) metricsText() string {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return string(b)
}

func (h *harness) run(action, status string, conclusion any) []byte {
	return fixture(h.t, "workflow_run.requested.json", map[string]any{
		"action":                     action,
		"repository.full_name":       repo,
		"workflow_run.id":            4242,
		"workflow_run.status":        status,
		"workflow_run.conclusion":    conclusion,
		"workflow_run.event":         "workflow_dispatch",
		"workflow_run.path":          ".github/workflows/driver-build.yml",
		"workflow_run.display_title": "build " + h.build.ID + ": ubuntu 24.04 6.8.0-1053-gcp x86_64 v0.1.2",
		"workflow_run.html_url":      "https://github.com/riptides/driver/actions/runs/4242",
	})
}

func (h *harness) current() store.Build {
	b, err := h.st.BuildByID(h.t.Context(), h.build.ID)
	require.NoError(h.t, err)
	return b
}

func TestWorkflowRunLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.st.AssetUpsert(t.Context(), store.Asset{
		Tag: tag, Name: pkg, AssetID: 7, DownloadURL: "https://github.com/riptides/driver/releases/download/v0.1.2/" + pkg,
		Digest: "sha256:" + hex.EncodeToString(make([]byte, 32)), DistroVersion: "24.04",
	}))

	require.Equal(t, http.StatusOK, h.send("workflow_run", "d1", h.run("requested", "queued", nil), secret))
	b := h.current()
	require.Equal(t, lifecycle.StatusInProgress, b.Status)
	require.EqualValues(t, 4242, b.RunID)
	require.Equal(t, "https://github.com/riptides/driver/actions/runs/4242", b.RunURL)

	// A delivery id seen before is not applied again, whatever it carries.
	require.Equal(t, http.StatusOK, h.send("workflow_run", "d1", h.run("completed", "completed", "failure"), secret))
	require.Equal(t, lifecycle.StatusInProgress, h.current().Status)

	job := fixture(t, "workflow_job.in_progress.json", map[string]any{
		"repository.full_name": repo, "workflow_job.run_id": 4242, "workflow_job.name": "build",
	})
	require.Equal(t, http.StatusOK, h.send("workflow_job", "d2", job, secret))
	require.Equal(t, "build: Set up job", h.current().Progress)

	require.Equal(t, http.StatusOK, h.send("workflow_run", "d3", h.run("completed", "completed", "success"), secret))
	b = h.current()
	require.Equal(t, lifecycle.StatusDone, b.Status)
	require.Contains(t, b.DownloadURL, pkg)
	require.Equal(t, "sha256:"+hex.EncodeToString(make([]byte, 32)), b.Digest)

	// A late in_progress event changes nothing.
	require.Equal(t, http.StatusOK, h.send("workflow_run", "d4", h.run("in_progress", "in_progress", nil), secret))
	require.Equal(t, lifecycle.StatusDone, h.current().Status)

	events, err := h.st.BuildEvents(t.Context(), h.build.ID)
	require.NoError(t, err)
	require.Len(t, events, 3, "queued, in_progress, done")
	for _, e := range events[1:] {
		require.Equal(t, lifecycle.SourceWebhook, e.Source)
	}
}

func TestWorkflowRunConclusions(t *testing.T) {
	t.Parallel()
	for conclusion, reason := range map[string]lifecycle.Reason{
		"failure":   lifecycle.ReasonBuildFailed,
		"cancelled": lifecycle.ReasonCancelled,
		"timed_out": lifecycle.ReasonTimedOut,
	} {
		t.Run(conclusion, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			require.Equal(t, http.StatusOK, h.send("workflow_run", "c1", h.run("completed", "completed", conclusion), secret))
			b := h.current()
			require.Equal(t, lifecycle.StatusError, b.Status)
			require.Equal(t, reason, b.Reason)
		})
	}
}

func TestWebhooksIgnored(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]map[string]any{
		"other workflow":   {"workflow_run.path": ".github/workflows/test.yml"},
		"other event":      {"workflow_run.event": "push"},
		"other repository": {"repository.full_name": "octo-org/octo-repo"},
		"no build id":      {"workflow_run.display_title": "nightly batch"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var doc map[string]any
			require.NoError(t, json.Unmarshal(h.run("requested", "queued", nil), &doc))
			for path, v := range edit {
				keys := splitPath(path)
				doc[keys[0]].(map[string]any)[keys[1]] = v
			}
			body, err := json.Marshal(doc)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, h.send("workflow_run", "i1", body, secret))
			require.Equal(t, lifecycle.StatusQueued, h.current().Status)
		})
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.Equal(t, http.StatusBadRequest, h.send("workflow_run", "s1", h.run("requested", "queued", nil), "wrong-secret"))
	require.Equal(t, lifecycle.StatusQueued, h.current().Status)

	// The untouched fixture bytes verify, and are ignored: they are about
	// another repository's workflow.
	raw := fixtures.Read(t, "github-webhooks", "workflow_run.completed.json")
	require.Equal(t, http.StatusOK, h.send("workflow_run", "s2", raw, secret))
	require.Equal(t, lifecycle.StatusQueued, h.current().Status)
}

// A second run of a build (a dispatch retried after an ambiguous failure)
// does not take the build over.
func TestSecondRunIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.Equal(t, http.StatusOK, h.send("workflow_run", "f1", h.run("requested", "queued", nil), secret))
	second := fixture(t, "workflow_run.requested.json", map[string]any{
		"action": "completed", "repository.full_name": repo, "workflow_run.id": 4343,
		"workflow_run.status": "completed", "workflow_run.conclusion": "failure",
		"workflow_run.event": "workflow_dispatch", "workflow_run.path": ".github/workflows/driver-build.yml",
		"workflow_run.display_title": "build " + h.build.ID + ": ubuntu 24.04 6.8.0-1053-gcp x86_64 v0.1.2",
	})
	require.Equal(t, http.StatusOK, h.send("workflow_run", "f2", second, secret))
	b := h.current()
	require.Equal(t, lifecycle.StatusInProgress, b.Status)
	require.EqualValues(t, 4242, b.RunID)
}

func TestReleaseWebhookFillsIndex(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := fixture(t, "release.published.json", map[string]any{
		"repository.full_name": repo,
		"release.tag_name":     "v0.2.0",
		"release.assets": []any{map[string]any{
			"id": 9, "name": "riptides-driver-debian-6.12.63+deb13-amd64_v0.2.0_amd64.deb", "label": "debian 13",
			"state": "uploaded", "size": 1234, "browser_download_url": "https://example.invalid/pkg.deb",
			"digest": "sha256:" + hex.EncodeToString(make([]byte, 32)),
		}},
	})
	require.Equal(t, http.StatusOK, h.send("release", "r1", body, secret))
	rel, err := h.st.ReleaseByTag(t.Context(), "v0.2.0")
	require.NoError(t, err)
	require.EqualValues(t, 17372790, rel.ReleaseID)
	a, err := h.st.AssetByName(t.Context(), "v0.2.0", "riptides-driver-debian-6.12.63+deb13-amd64_v0.2.0_amd64.deb")
	require.NoError(t, err)
	require.Equal(t, "13", a.DistroVersion)
	require.EqualValues(t, 1234, a.Size)

	draft := fixture(t, "release.published.json", map[string]any{
		"action": "created", "repository.full_name": repo, "release.tag_name": "v0.3.0-rc.1", "release.draft": true,
	})
	require.Equal(t, http.StatusOK, h.send("release", "r3", draft, secret))
	_, err = h.st.ReleaseByTag(t.Context(), "v0.3.0-rc.1")
	require.ErrorIs(t, err, store.ErrNotFound, "a draft's assets cannot be downloaded: it is no release to serve")

	deleted := fixture(t, "release.published.json", map[string]any{
		"action": "deleted", "repository.full_name": repo, "release.tag_name": "v0.2.0",
	})
	require.Equal(t, http.StatusOK, h.send("release", "r2", deleted, secret))
	_, err = h.st.ReleaseByTag(t.Context(), "v0.2.0")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.st.AssetByName(t.Context(), "v0.2.0", "riptides-driver-debian-6.12.63+deb13-amd64_v0.2.0_amd64.deb")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A release webhook delivered late, or again, lists the assets its release
// held when it was sent: the packages uploaded since stay in the index.
func TestLateReleaseWebhookKeepsNewerAssets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	const tag, built = "v0.2.0", "riptides-driver-debian-6.12.63+deb13-amd64_v0.2.0_amd64.deb"
	require.NoError(t, h.st.ReleaseUpsert(ctx, store.Release{Tag: tag, ReleaseID: 17372790, RefreshedAt: time.Now()}))
	require.NoError(t, h.st.AssetUpsert(ctx, store.Asset{Tag: tag, Name: built, AssetID: 7, DownloadURL: "https://example.invalid/built.deb",
		Digest: "sha256:" + hex.EncodeToString(make([]byte, 32)), DistroVersion: "13", UpdatedAt: time.Now()}))

	published := fixture(t, "release.published.json", map[string]any{
		"repository.full_name": repo, "release.tag_name": tag, "release.id": 17372790,
		"release.assets": []any{map[string]any{
			"id": 9, "name": "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb", "label": "ubuntu 24.04",
			"state": "uploaded", "size": 1234, "browser_download_url": "https://example.invalid/other.deb",
		}, map[string]any{
			"id": 3, "name": built, "label": "", "state": "uploaded", "size": 1, "browser_download_url": "https://example.invalid/old.deb",
		}},
	})
	require.Equal(t, http.StatusOK, h.send("release", "late", published, secret))
	a, err := h.st.AssetByName(ctx, tag, built)
	require.NoError(t, err, "the package stored since the payload was sent")
	require.EqualValues(t, 7, a.AssetID, "as stored, not as the older payload lists it")
	require.Equal(t, "13", a.DistroVersion)
	_, err = h.st.AssetByName(ctx, tag, "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb")
	require.NoError(t, err, "what the payload lists that the index lacked")

	empty := fixture(t, "release.published.json", map[string]any{
		"action": "edited", "repository.full_name": repo, "release.tag_name": tag, "release.id": 17372790, "release.assets": []any{},
	})
	require.Equal(t, http.StatusOK, h.send("release", "late-2", empty, secret))
	_, err = h.st.AssetByName(ctx, tag, built)
	require.NoError(t, err, "a payload from before the upload drops nothing")

	reuploaded := fixture(t, "release.published.json", map[string]any{
		"action": "edited", "repository.full_name": repo, "release.tag_name": tag, "release.id": 17372790,
		"release.assets": []any{map[string]any{"id": 12, "name": built, "label": "debian 13", "state": "uploaded", "size": 2,
			"browser_download_url": "https://example.invalid/reuploaded.deb"}},
	})
	require.Equal(t, http.StatusOK, h.send("release", "reuploaded", reuploaded, secret))
	a, err = h.st.AssetByName(ctx, tag, built)
	require.NoError(t, err)
	require.EqualValues(t, 12, a.AssetID, "uploaded again since: GitHub's asset ids grow")

	// The release is deleted and made anew under its tag; the old one's
	// deletion and publication arrive late.
	remade := fixture(t, "release.published.json", map[string]any{
		"repository.full_name": repo, "release.tag_name": tag, "release.id": 17372799, "release.assets": []any{},
	})
	require.Equal(t, http.StatusOK, h.send("release", "remade", remade, secret))
	_, err = h.st.AssetByName(ctx, tag, built)
	require.ErrorIs(t, err, store.ErrNotFound, "the packages of the release before")
	oldDeleted := fixture(t, "release.published.json", map[string]any{
		"action": "deleted", "repository.full_name": repo, "release.tag_name": tag, "release.id": 17372790,
	})
	require.Equal(t, http.StatusOK, h.send("release", "old-deleted", oldDeleted, secret))
	require.Equal(t, http.StatusOK, h.send("release", "old-published", published, secret))
	rel, err := h.st.ReleaseByTag(ctx, tag)
	require.NoError(t, err, "the release made anew is not forgotten")
	require.EqualValues(t, 17372799, rel.ReleaseID)
	as, err := h.st.AssetsOfTag(ctx, tag)
	require.NoError(t, err)
	require.Empty(t, as, "nor given the old one's assets")
}

// TestDispatcherServesEveryRegisteredEvent sends each real payload in the
// fixtures as the event it is: the dispatcher handles (200) exactly the
// events of handlers.Events, and accepts the others unhandled (202).
func TestDispatcherServesEveryRegisteredEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	entries, err := os.ReadDir(filepath.Join(fixtures.Dir(t), "github-webhooks"))
	require.NoError(t, err)
	handled := map[string]bool{}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		event, _, _ := strings.Cut(e.Name(), ".")
		body := fixtures.Read(t, "github-webhooks", e.Name())
		want := http.StatusAccepted
		if slices.Contains(handlers.Events(), event) || event == "ping" {
			want = http.StatusOK
			handled[event] = true
		}
		require.Equal(t, want, h.send(event, uuid.NewString(), body, secret), e.Name())
	}
	require.Subset(t, handlers.Events(), []string{"workflow_run", "workflow_job", "release"}, "the events a build's life depends on")
	for _, event := range handlers.Events() {
		require.True(t, handled[event], "no fixture of the handled event %s", event)
	}
}
