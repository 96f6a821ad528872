package hostile

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const hook = "/api/github/hook"

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// post sends body with headers and returns the status and answer.
func post(t *testing.T, url string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestHostileTraffic attacks one build-service as anyone on the internet
// could: the refusals first, each over real HTTP, then a flood, during
// which the service must keep answering with bounded memory and log.
func TestHostileTraffic(t *testing.T) {
	s := startService(t)
	require.Contains(t, s.Proc.logText(t), "anyone who reaches this port can dispatch builds", "anonymous access, allowed by ghsim's config, is warned about")

	t.Logf("peak RSS at start %.1f MB", float64(s.Proc.peakRSS(t))/(1<<20))
	t.Run("webhook refusals", func(t *testing.T) {
		ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
		sha1mac := hmac.New(sha1.New, []byte(s.Secret))
		sha1mac.Write(ping)
		for name, tc := range map[string]struct {
			event   string
			body    []byte
			headers map[string]string
			code    int
		}{
			"SHA-256 signature":    {"ping", ping, map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac(s.Secret, ping))}, http.StatusOK},
			"SHA-1 signature only": {"ping", ping, map[string]string{"X-Hub-Signature": "sha1=" + hex.EncodeToString(sha1mac.Sum(nil))}, http.StatusBadRequest},
			"wrong key":            {"ping", ping, map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac("guess", ping))}, http.StatusBadRequest},
			"signed but malformed": {"workflow_run", []byte(`{"action":5}`), nil, http.StatusBadRequest},
			"signed, over 25 MB":   {"workflow_run", append([]byte(`{"action":"requested"}`), bytes.Repeat([]byte(" "), 25<<20)...), nil, http.StatusRequestEntityTooLarge},
		} {
			headers := map[string]string{"X-GitHub-Event": tc.event, "X-GitHub-Delivery": uuid.NewString()}
			if tc.headers == nil {
				tc.headers = map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac(s.Secret, tc.body))}
			}
			for k, v := range tc.headers {
				headers[k] = v
			}
			code, answer := post(t, s.URL+hook, headers, tc.body)
			require.Equal(t, tc.code, code, "%s: %s", name, answer)
		}
	})

	t.Run("POST /build reads a body one way", func(t *testing.T) {
		const rest = `"architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"`
		for body, field := range map[string]string{
			`{"kernel_version":"6.8.0-1-gcp",` + rest + `,"kernel_version":"6.8.0-2-gcp"}`: "kernel_version",
			`{"kernel_version":"6.8.0-1-gcp",` + rest + `,"Kernel_Version":"6.8.0-2-gcp"}`: "Kernel_Version",
			`[1]`: "",
			`"x"`: "",
		} {
			code, answer := post(t, s.URL+"/build", nil, []byte(body))
			require.Equal(t, http.StatusBadRequest, code, answer)
			var e struct{ Error, Field string }
			require.NoError(t, json.Unmarshal([]byte(answer), &e))
			require.Equal(t, field, e.Field, answer)
			require.NotEqual(t, " must be a JSON string", e.Error)
		}
		var stats struct{ Dispatches int }
		require.NoError(t, json.Unmarshal([]byte(get(t, s.SimURL+"/_sim/stats")), &stats))
		require.Zero(t, stats.Dispatches)
	})

	t.Run("flood", func(t *testing.T) {
		logBefore := s.Proc.logSize(t)
		t.Logf("peak RSS before the flood %.1f MB", float64(s.Proc.peakRSS(t))/(1<<20))
		addr := strings.TrimPrefix(s.URL, "http://")
		var (
			wg          sync.WaitGroup
			mu          sync.Mutex
			failures    []string
			healthy     atomic.Int64
			stopHealthz = make(chan struct{})
			healthDone  = make(chan struct{})
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		go func() {
			defer close(healthDone)
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stopHealthz:
					return
				case <-time.After(50 * time.Millisecond):
				}
				resp, err := client.Get(s.URL + "/healthz")
				if err != nil {
					fail("/healthz: %v", err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fail("/healthz: %d", resp.StatusCode)
					continue
				}
				healthy.Add(1)
			}
		}()

		// 200 MB unsigned bodies: with a length, without one (chunked) and
		// with a signature that only looks right.
		bogus := "sha256=" + strings.Repeat("ab", 32)
		for name, tc := range map[string]struct {
			sig    string
			length bool
			code   int
		}{
			"with a length":         {"", true, http.StatusRequestEntityTooLarge},
			"chunked, unsigned":     {"", false, http.StatusBadRequest},
			"chunked, bogus digest": {bogus, false, http.StatusRequestEntityTooLarge},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, sent, err := rawPost(addr, hook, tc.sig, 200<<20, tc.length)
				switch {
				case err != nil:
					fail("200 MB %s: %v", name, err)
				case code != tc.code:
					fail("200 MB %s: %d, want %d", name, code, tc.code)
				case sent > 100<<20:
					fail("200 MB %s: %d bytes taken before the answer", name, sent)
				}
			}()
		}
		// 10,000 distinct unsigned event names, from 8 clients.
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 10_000; i += 8 {
					code, err := webhook(s.URL, fmt.Sprintf("made_up_event_%05d", i), uuid.NewString())
					if err != nil || code != http.StatusBadRequest {
						fail("event %d: %d %v", i, code, err)
						return
					}
				}
			}()
		}
		// 50 one-megabyte delivery ids, from 5 clients: past the header
		// limit; and 50 of 32 kB, within it, that the endpoint refuses.
		for w := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					for size, want := range map[int]int{1 << 20: http.StatusRequestHeaderFieldsTooLarge, 32 << 10: http.StatusBadRequest} {
						id := fmt.Sprintf("%d-%d-", w, i) + strings.Repeat("d", size-64)
						code, err := webhook(s.URL, "workflow_run", id)
						if err != nil || code != want {
							fail("delivery id of %d bytes: %d %v, want %d", size, code, err, want)
							return
						}
					}
				}
			}()
		}
		// 50 requests for 32 kB paths nothing serves: the access log clips them.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				resp, err := http.Get(s.URL + "/" + fmt.Sprint(i) + strings.Repeat("p", 32<<10))
				if err != nil {
					fail("long path: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					fail("long path: %d", resp.StatusCode)
					return
				}
			}
		}()
		wg.Wait()
		close(stopHealthz)
		<-healthDone

		require.Empty(t, failures)
		require.Positive(t, healthy.Load(), "/healthz answered during the flood")
		rss, grew := s.Proc.peakRSS(t), s.Proc.logSize(t)-logBefore
		t.Logf("peak RSS %.1f MB, log grew %d bytes, /healthz answered %d times", float64(rss)/(1<<20), grew, healthy.Load())
		require.Less(t, rss, int64(150<<20), "peak RSS")
		require.Less(t, grew, int64(1<<20), "log growth")

		metrics := get(t, s.URL+"/metrics")
		require.NotContains(t, metrics, "made_up_event")
		require.Less(t, len(metrics), 64<<10, "/metrics stays small")
		refused := regexp.MustCompile(`(?m)^driverbuild_webhook_refused_total\{reason="(\w+)"\} (\d+)$`).FindAllStringSubmatch(metrics, -1)
		total := 0
		for _, m := range refused {
			var n int
			fmt.Sscan(m[2], &n)
			total += n
		}
		require.GreaterOrEqual(t, total, 10_000+50+3, "every refusal is counted: %v", refused)
		require.Regexp(t, `(?m)^driverbuild_webhook_deliveries_total\{code="200",event="other"\} 1$`, metrics, "the signed ping")
	})
}

// webhook sends an unsigned delivery with the given headers.
func webhook(url, event, delivery string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url+hook, strings.NewReader(`{"action":"completed"}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// rawPost sends a webhook POST with a body of size bytes over its own
// connection, with a Content-Length or chunked, and reads the answer while
// the body is still being sent: a server that answers early closes the
// connection, which Go's client may report instead of the answer. It
// returns the status and how many body bytes the server took before it.
func rawPost(addr, path, signature string, size int64, withLength bool) (code int, sent int64, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: %s\r\n", path, addr, uuid.NewString())
	if signature != "" {
		fmt.Fprintf(&head, "X-Hub-Signature-256: %s\r\n", signature)
	}
	if withLength {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", size)
	} else {
		head.WriteString("Transfer-Encoding: chunked\r\n")
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		return 0, 0, err
	}
	var written atomic.Int64
	go func() {
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		w := bufio.NewWriter(conn)
		for written.Load() < size {
			if !withLength {
				fmt.Fprintf(w, "%x\r\n", len(chunk))
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if !withLength {
				w.WriteString("\r\n")
			}
			written.Add(int64(len(chunk)))
		}
		if !withLength {
			w.WriteString("0\r\n\r\n")
		}
		_ = w.Flush()
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, written.Load(), err
	}
	resp.Body.Close()
	return resp.StatusCode, written.Load(), nil
}

// Outside -dev, a service with no loader token starts only when told to
// allow anonymous access.
func TestServiceRefusesAnonymousByDefault(t *testing.T) {
	dir := t.TempDir()
	configPath, _ := startSim(t, dir, freeAddr(t))
	b, err := os.ReadFile(configPath)
	require.NoError(t, err)
	strict := regexp.MustCompile(`(?m)^api:\n(\s+.*\n)*`).ReplaceAll(b, nil)
	require.NotContains(t, string(strict), "allow_anonymous")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "strict.yml"), strict, 0o600))
	code, out := run(t, dir, "build-service", "-config", "strict.yml", "-listen", freeAddr(t))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "api.allow_anonymous: true")
}
