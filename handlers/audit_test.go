package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

const auditToken = "audit-token"

// auditFixture is a store with seven builds (every third failed), their
// requests, an invalid request and two deliveries, served by the API.
type auditFixture struct {
	url    string
	builds []store.Build // newest first
}

func newAuditFixture(t *testing.T, open func(testing.TB) store.Store) auditFixture {
	t.Helper()
	st := open(t)
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var f auditFixture
	for i := range 7 {
		at := base.Add(time.Duration(i) * time.Minute)
		req := kernel.Request{KernelVersion: fmt.Sprintf("6.8.0-10%02d-gcp", i), Architecture: "amd64",
			Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
		b, _, err := st.BuildCreate(ctx, store.BuildCreateParams{ID: fmt.Sprintf("0190c3f4-0000-7000-8000-%012d", i),
			CacheKey: req.CacheKey(), Request: req, Package: "p.deb", Now: at})
		require.NoError(t, err)
		b, _, err = st.BuildTransition(ctx, lifecycle.Transition{ID: b.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI,
			RunID: int64(100 + i), RunURL: fmt.Sprintf("https://github.com/o/r/actions/runs/%d", 100+i), Now: at.Add(time.Second)})
		require.NoError(t, err)
		end := lifecycle.Transition{ID: b.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at.Add(30 * time.Second)}
		if i%3 == 0 {
			end.To, end.Reason, end.Detail = lifecycle.StatusError, lifecycle.ReasonBuildFailed, "run failed"
		}
		b, _, err = st.BuildTransition(ctx, end)
		require.NoError(t, err)
		f.builds = append([]store.Build{b}, f.builds...)
		require.NoError(t, st.RequestRecord(ctx, store.Request{ReceivedAt: at, KernelVersion: req.KernelVersion, Architecture: "x86_64",
			Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2", Outcome: "dispatched", HTTPStatus: 202, BuildID: b.ID}))
	}
	require.NoError(t, st.RequestRecord(ctx, store.Request{ReceivedAt: base.Add(time.Hour), KernelVersion: "6.8.0-$(reboot)",
		Outcome: "invalid", HTTPStatus: 400, Field: "kernel_version", Error: "kernel_version: only letters"}))
	for i, event := range []string{"workflow_run", "release"} {
		_, err := st.DeliveryRecord(ctx, fmt.Sprintf("delivery-%d", i), event, "completed", base.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	access, err := handlers.NewAccess(handlers.AccessConfig{
		Clients:   []handlers.Client{{Name: "ops", Role: handlers.RoleAdmin, SHA256: handlers.HashToken(auditToken)}},
		RateLimit: handlers.DefaultRateLimit(),
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	(&handlers.API{Store: st, Audit: st, Access: access, Metrics: handlers.NewMetrics(), Now: time.Now}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// get fetches an audit route with the token and decodes the answer into
// out, returning the status code.
func (f auditFixture) get(t *testing.T, path string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+auditToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	return resp.StatusCode
}

func TestAuditAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		t.Parallel()
		f := newAuditFixture(t, open)

		t.Run("a token is needed", func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/api/builds", "/api/builds/" + f.builds[0].ID + "/events", "/api/requests", "/api/deliveries"} {
				for name, auth := range map[string]string{"none": "", "wrong": "Bearer nope"} {
					req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+path, nil)
					require.NoError(t, err)
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					resp.Body.Close()
					require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s token on %s", name, path)
				}
			}
		})

		t.Run("builds, page by page, as GET /status shows them", func(t *testing.T) {
			t.Parallel()
			var all buildapi.Builds
			require.Equal(t, http.StatusOK, f.get(t, "/api/builds", &all))
			require.Empty(t, all.NextCursor)
			require.Len(t, all.Builds, len(f.builds))
			for i, b := range f.builds {
				require.Equal(t, b.ID, all.Builds[i].BuildID)
				require.Equal(t, string(b.Status), all.Builds[i].Status)
				require.Equal(t, b.RunURL, all.Builds[i].RunURL)
			}
			var joined []buildapi.Build
			path := "/api/builds?limit=3"
			for pages := 0; ; pages++ {
				require.Less(t, pages, 5)
				var page buildapi.Builds
				require.Equal(t, http.StatusOK, f.get(t, path, &page))
				joined = append(joined, page.Builds...)
				if page.NextCursor == "" {
					break
				}
				path = "/api/builds?limit=3&cursor=" + url.QueryEscape(page.NextCursor)
			}
			require.Equal(t, all.Builds, joined)
		})

		t.Run("builds by filter", func(t *testing.T) {
			t.Parallel()
			var failed buildapi.Builds
			require.Equal(t, http.StatusOK, f.get(t, "/api/builds?status=error&reason=build_failed", &failed))
			require.Len(t, failed.Builds, 3)
			for _, b := range failed.Builds {
				require.Equal(t, "error", b.Status)
			}
			var one buildapi.Builds
			require.Equal(t, http.StatusOK, f.get(t, "/api/builds?kernel=6.8.0-1004-gcp&distribution=ubuntu&driver_version=v0.1.2", &one))
			require.Len(t, one.Builds, 1)
			var window buildapi.Builds
			require.Equal(t, http.StatusOK, f.get(t, "/api/builds?since=2026-03-01T10:02:00Z&until=2026-03-01T10:04:00Z", &window))
			require.Equal(t, []string{f.builds[3].ID, f.builds[4].ID}, []string{window.Builds[0].BuildID, window.Builds[1].BuildID})
			require.Len(t, window.Builds, 2)
		})

		t.Run("a bad filter names the parameter", func(t *testing.T) {
			t.Parallel()
			for query, field := range map[string]string{
				"status=finished":           "status",
				"reason=bored":              "reason",
				"status=done&status=error":  "status",
				"kernel=6.8.0-$(reboot)":    "kernel",
				"since=yesterday":           "since",
				"until=2026-03-01":          "until",
				"limit=0":                   "limit",
				"limit=501":                 "limit",
				"limit=ten":                 "limit",
				"cursor=not-a-cursor":       "cursor",
				"statu=done":                "statu",
				"status=done&order=reverse": "order",
			} {
				var e buildapi.Error
				require.Equal(t, http.StatusBadRequest, f.get(t, "/api/builds?"+query, &e), query)
				require.Equal(t, field, e.Field, query)
				require.Contains(t, e.Error, field+":", query)
			}
			var e buildapi.Error
			require.Equal(t, http.StatusBadRequest, f.get(t, "/api/requests?outcome=a%20b", &e))
			require.Equal(t, "outcome", e.Field)
			require.Equal(t, http.StatusBadRequest, f.get(t, "/api/deliveries?since=now", &e))
			require.Equal(t, "since", e.Field)
		})

		t.Run("a build's timeline", func(t *testing.T) {
			t.Parallel()
			b := f.builds[len(f.builds)-1] // the oldest, which failed
			var tl buildapi.Events
			require.Equal(t, http.StatusOK, f.get(t, "/api/builds/"+b.ID+"/events", &tl))
			var trail []string
			for _, e := range tl.Events {
				trail = append(trail, fmt.Sprintf("%s>%s by %s %s", e.From, e.To, e.Source, e.Reason))
				require.Equal(t, b.RunURL, e.RunURL)
			}
			require.Equal(t, []string{">queued by api ", "queued>in_progress by api ", "in_progress>error by webhook build_failed"}, trail)
			require.Equal(t, "run failed", tl.Events[2].Detail)
			require.True(t, tl.Events[2].At.Equal(b.FinishedAt))

			var e buildapi.Error
			require.Equal(t, http.StatusNotFound, f.get(t, "/api/builds/0190c3f4-0000-7000-8000-999999999999/events", &e))
			require.Equal(t, http.StatusNotFound, f.get(t, "/api/builds/..%2Fetc/events", &e))
		})

		t.Run("requests, invalid ones with their field", func(t *testing.T) {
			t.Parallel()
			var all buildapi.Requests
			require.Equal(t, http.StatusOK, f.get(t, "/api/requests", &all))
			require.Len(t, all.Requests, 8)
			var invalid buildapi.Requests
			require.Equal(t, http.StatusOK, f.get(t, "/api/requests?outcome=invalid", &invalid))
			require.Len(t, invalid.Requests, 1)
			require.Equal(t, "kernel_version", invalid.Requests[0].Field)
			require.Equal(t, 400, invalid.Requests[0].HTTPStatus)
			require.Equal(t, "6.8.0-$(reboot)", invalid.Requests[0].KernelVersion)
			var page buildapi.Requests
			require.Equal(t, http.StatusOK, f.get(t, "/api/requests?kernel=6.8.0-1006-gcp&limit=1", &page))
			require.Len(t, page.Requests, 1)
			require.Equal(t, f.builds[0].ID, page.Requests[0].BuildID)
			require.Empty(t, page.NextCursor)
		})

		t.Run("deliveries", func(t *testing.T) {
			t.Parallel()
			var all buildapi.Deliveries
			require.Equal(t, http.StatusOK, f.get(t, "/api/deliveries?limit=1", &all))
			require.Equal(t, []buildapi.Delivery{{DeliveryID: "delivery-1", Event: "release", Action: "completed",
				ReceivedAt: time.Date(2026, 3, 1, 10, 0, 1, 0, time.UTC)}}, all.Deliveries)
			require.NotEmpty(t, all.NextCursor)
			var runs buildapi.Deliveries
			require.Equal(t, http.StatusOK, f.get(t, "/api/deliveries?event=workflow_run", &runs))
			require.Len(t, runs.Deliveries, 1)
			require.Equal(t, "delivery-0", runs.Deliveries[0].DeliveryID)
		})
	})
}
