package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/riptides/driverbuild/builds"
)

// Relay stands between ghsim and the service's webhook endpoint and notes
// when each build's workflow_run completed delivery starts, which is
// where status freshness is measured from. It forwards every delivery
// unchanged and answers with the service's answer.
type Relay struct {
	Target string // the service's webhook URL
	// Listen is where ghsim delivers; default a free loopback port.
	Listen string

	mu        sync.Mutex
	completed map[string]time.Time // build id -> first completed delivery's start
	srv       *http.Server
	client    *http.Client
}

// Start listens and returns the URL ghsim should deliver to.
func (r *Relay) Start() (string, error) {
	addr := r.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	r.completed = map[string]time.Time{}
	r.client = &http.Client{Timeout: 30 * time.Second}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.forward), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/api/github/hook", nil
}

// Close stops listening.
func (r *Relay) Close() { _ = r.srv.Close() }

// Completed returns when the completed delivery of a build started.
func (r *Relay) Completed(buildID string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.completed[buildID]
	return t, ok
}

func (r *Relay) forward(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Header.Get("X-GitHub-Event") == "workflow_run" {
		var p struct {
			Action string `json:"action"`
			Run    struct {
				DisplayTitle string `json:"display_title"`
			} `json:"workflow_run"`
		}
		if json.Unmarshal(body, &p) == nil && p.Action == "completed" {
			if id := builds.BuildIDFromRunName(p.Run.DisplayTitle); id != "" {
				r.mu.Lock()
				if _, seen := r.completed[id]; !seen {
					r.completed[id] = start
				}
				r.mu.Unlock()
			}
		}
	}
	out, err := http.NewRequestWithContext(req.Context(), http.MethodPost, r.Target, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out.Header = req.Header.Clone()
	resp, err := r.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
