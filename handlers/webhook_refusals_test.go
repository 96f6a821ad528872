package handlers_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/lifecycle"
)

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// What GitHub would never send is refused, and changes nothing: not the
// build, not the metric labels.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		headers func(body []byte) map[string]string
		body    func(h *harness) []byte
		code    int
		reason  string
	}{
		"no signature": {
			headers: func([]byte) map[string]string { return map[string]string{} },
			code:    http.StatusBadRequest, reason: "unsigned",
		},
		"SHA-1 signature only": {
			headers: func(body []byte) map[string]string {
				mac := hmac.New(sha1.New, []byte(secret))
				mac.Write(body)
				return map[string]string{"X-Hub-Signature": "sha1=" + hex.EncodeToString(mac.Sum(nil))}
			},
			code: http.StatusBadRequest, reason: "unsigned",
		},
		"signature not hex": {
			headers: func([]byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("z", 64)}
			},
			code: http.StatusBadRequest, reason: "unsigned",
		},
		"wrong key": {
			headers: func(body []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": sign(body, "wrong")}
			},
			code: http.StatusBadRequest, reason: "bad_signature",
		},
		"delivery id not a UUID": {
			headers: func(body []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": sign(body, secret), "X-GitHub-Delivery": "d1"}
			},
			code: http.StatusBadRequest, reason: "bad_header",
		},
		"event not an event name": {
			headers: func(body []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": sign(body, secret), "X-GitHub-Event": "workflow_run; drop"}
			},
			code: http.StatusBadRequest, reason: "bad_header",
		},
		"body over GitHub's 25 MB": {
			headers: func(body []byte) map[string]string {
				return map[string]string{"X-Hub-Signature-256": sign(body, secret)}
			},
			body: func(h *harness) []byte {
				return append(h.run("requested", "queued", nil), bytes.Repeat([]byte(" "), handlers.MaxWebhookBytes)...)
			},
			code: http.StatusRequestEntityTooLarge, reason: "too_large",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			body := h.run("requested", "queued", nil)
			if tc.body != nil {
				body = tc.body(h)
			}
			headers := map[string]string{"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": guid(name)}
			for k, v := range tc.headers(body) {
				headers[k] = v
			}
			require.Equal(t, tc.code, h.post(body, headers))
			require.Equal(t, lifecycle.StatusQueued, h.current().Status)
			seen, err := h.st.DeliverySeen(t.Context(), guid(name))
			require.NoError(t, err)
			require.False(t, seen)
			m := h.metricsText()
			require.Contains(t, m, fmt.Sprintf(`driverbuild_webhook_refused_total{reason=%q} 1`, tc.reason))
			require.NotContains(t, m, "driverbuild_webhook_deliveries_total{", "only verified deliveries are counted by event")
		})
	}
}

// A body without a length is read no further than GitHub's cap.
func TestWebhookUnsizedBodyIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sent := &countingReader{r: io.LimitReader(zeros{}, 4*handlers.MaxWebhookBytes)}
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+githubapp.DefaultWebhookRoute, sent)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", guid("unsized"))
	req.Header.Set("X-Hub-Signature-256", sign(nil, "bogus"))
	resp, err := http.DefaultClient.Do(req)
	if err == nil { // the server may close the connection before the client has read its answer
		resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	}
	require.Contains(t, h.metricsText(), `driverbuild_webhook_refused_total{reason="too_large"} 1`)
	require.Less(t, sent.n, int64(2*handlers.MaxWebhookBytes), "the body was not read to its end")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Labels come from closed sets: whatever event names senders make up,
// deliveries are counted as one of the events handled or as other.
func TestWebhookMetricLabelsAreClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 50 {
		body := []byte(`{}`)
		require.Equal(t, http.StatusBadRequest, h.post(body, map[string]string{
			"X-GitHub-Event": fmt.Sprintf("made_up_%d", i), "X-GitHub-Delivery": guid(fmt.Sprint(i)),
		}))
		require.Equal(t, http.StatusAccepted, h.send("signed_made_up_"+string(rune('a'+i%26))+string(rune('a'+i/26)), fmt.Sprint("s", i), body, secret))
	}
	require.Equal(t, http.StatusOK, h.send("workflow_run", "w1", h.run("requested", "queued", nil), secret))
	m := h.metricsText()
	require.NotContains(t, m, "made_up")
	require.Contains(t, m, `driverbuild_webhook_deliveries_total{code="202",event="other"} 50`)
	require.Contains(t, m, `driverbuild_webhook_deliveries_total{code="200",event="workflow_run"} 1`)
	require.Contains(t, m, `driverbuild_webhook_refused_total{reason="unsigned"} 50`)
}

// A refusal is one rate-limited log line, whatever the sender puts in its
// headers: a delivery id that is no UUID is logged as invalid, clipped.
func TestWebhookRefusalsLogLittle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	huge := strings.Repeat("x", 64<<10)
	for i := range 20 {
		require.Equal(t, http.StatusBadRequest, h.post([]byte(`{}`), map[string]string{
			"X-GitHub-Event": huge, "X-GitHub-Delivery": fmt.Sprint(i, huge),
		}))
	}
	log := h.log.String()
	require.Equal(t, 1, strings.Count(log, "\n"), "one line while the rate limit holds: %s", log)
	require.Less(t, len(log), 1024)
	require.Contains(t, log, "invalid")
	require.Contains(t, h.metricsText(), `driverbuild_webhook_refused_total{reason="unsigned"} 20`)
}

// A signed payload that can never be applied is answered 400, not 500,
// and recorded, so that redelivery does not ask GitHub for it again.
func TestWebhookMalformedPayloadIsRecorded(t *testing.T) {
	t.Parallel()
	for event, body := range map[string]string{
		"workflow_run": `{"action": 5}`,
		"workflow_job": `[1]`,
		"release":      `{"release": {"assets": "none"}}`,
		// The kernels.json loop's events too.
		"push":         `{"ref": 1}`,
		"pull_request": `{"pull_request": []}`,
		"check_suite":  `{"check_suite": "x"}`,
		"check_run":    `{"check_run": 2}`,
		"status":       `{"branches": {}}`,
	} {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			require.Equal(t, http.StatusBadRequest, h.send(event, "m1", []byte(body), secret))
			seen, err := h.st.DeliverySeen(t.Context(), guid("m1"))
			require.NoError(t, err)
			require.True(t, seen)
			require.Contains(t, h.metricsText(), fmt.Sprintf(`driverbuild_webhook_deliveries_total{code="400",event=%q} 1`, event))
		})
	}
}

// Senders that trickle their bodies hold the read slots no longer than
// GitHub would wait for an answer: a delivery of GitHub's behind them is
// read and applied, and they are told they were too slow.
func TestWebhookSlowSendersAreCut(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	h := newHarnessWith(t, func(e *handlers.WebhookEndpoint) { e.ReadTimeout = timeout })
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	answers := make(chan string, 8)
	for i := range 8 { // twice the read slots
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"+
			"X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: %s\r\nX-Hub-Signature-256: %s\r\n\r\n{",
			githubapp.DefaultWebhookRoute, guid(fmt.Sprintf("slow-%d", i)), sign(nil, "bogus"))
		go func() {
			status, _ := bufio.NewReader(conn).ReadString('\n')
			answers <- strings.TrimSpace(status)
		}()
	}
	time.Sleep(50 * time.Millisecond) // they hold every slot

	start := time.Now()
	require.Equal(t, http.StatusOK, h.send("workflow_run", "d1", h.run("requested", "queued", nil), secret))
	require.Less(t, time.Since(start), 4*timeout, "GitHub's delivery waited behind the slow senders")
	require.Equal(t, lifecycle.StatusInProgress, h.current().Status, "the delivery was applied")

	for range 8 {
		select {
		case status := <-answers:
			require.Contains(t, []string{"HTTP/1.1 408 Request Timeout", "HTTP/1.1 503 Service Unavailable"}, status)
		case <-time.After(10 * timeout):
			t.Fatal("a slow sender still holds its connection")
		}
	}
	m := h.metricsText()
	require.Contains(t, m, `driverbuild_webhook_refused_total{reason="slow"}`)
}
