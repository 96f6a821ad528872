package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A body that cannot get a read slot within the read timeout is answered
// busy, and nothing of it is read: GitHub redelivers it.
func TestWebhookWaitsForASlotNoLongerThanItsTimeout(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	e := &WebhookEndpoint{Secret: "s", Metrics: m, ReadTimeout: 100 * time.Millisecond}
	s := e.Handler().(*webhookServer)
	for range cap(s.reads) { // every slot held by senders still reading
		s.reads <- struct{}{}
	}
	r := httptest.NewRequest(http.MethodPost, "/api/github/hook", strings.NewReader("{}"))
	r.Header.Set("X-GitHub-Event", "workflow_run")
	r.Header.Set("X-GitHub-Delivery", "6f1f7e52-0000-4000-8000-000000000001")
	r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	w := httptest.NewRecorder()
	start := time.Now()
	s.ServeHTTP(w, r)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.GreaterOrEqual(t, time.Since(start), e.ReadTimeout, "it waited its turn first")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Contains(t, rec.Body.String(), `driverbuild_webhook_refused_total{reason="busy"} 1`)
}
