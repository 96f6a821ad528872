package ghsim

// The simulator's own endpoints under /_sim/, and the Go API tests use
// to look inside: counters, runs, faults, deliveries.

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
)

// Stats counts what the simulator has served and sent.
type Stats struct {
	// TotalRequests counts API and download requests (not /_sim/ ones).
	TotalRequests int64 `json:"total_requests"`
	// Dispatches counts accepted workflow dispatches, one per run.
	Dispatches int64 `json:"dispatches"`
	// WebhooksSent counts delivery attempts, WebhooksFailed those not
	// answered with a 2xx (including attempts while webhooks are paused).
	WebhooksSent   int64 `json:"webhooks_sent"`
	WebhooksFailed int64 `json:"webhooks_failed"`
	// Merges counts pull requests merged.
	Merges int64 `json:"merges"`
	// FaultsInjected counts requests answered by an injected fault.
	FaultsInjected int64 `json:"faults_injected"`
	// ByRoute counts requests per route, keyed "METHOD pattern".
	ByRoute map[string]int64 `json:"by_route"`
	// Runs counts runs by status (queued, in_progress, completed) and
	// Conclusions completed runs by conclusion.
	Runs        map[string]int `json:"runs"`
	Conclusions map[string]int `json:"conclusions"`
}

type counters struct {
	mu                                         sync.Mutex
	requests, dispatches, sent, failed, faults int64
	byRoute                                    map[string]int64
}

// add counts one more of c, a field of s.
func (s *counters) add(c *int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*c++
}

func (s *Server) countRequest(route string) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	s.stats.requests++
	s.stats.byRoute[route]++
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	st := Stats{
		TotalRequests:  s.stats.requests,
		Dispatches:     s.stats.dispatches,
		WebhooksSent:   s.stats.sent,
		WebhooksFailed: s.stats.failed,
		FaultsInjected: s.stats.faults,
		ByRoute:        maps.Clone(s.stats.byRoute),
		Runs:           map[string]int{"queued": 0, "in_progress": 0, "completed": 0},
		Conclusions:    map[string]int{},
	}
	s.stats.mu.Unlock()
	st.Merges = s.merges()
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	for _, r := range s.act.runs {
		st.Runs[r.status]++
		if r.conclusion != "" {
			st.Conclusions[r.conclusion]++
		}
	}
	return st
}

func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.Stats())
}

// DeliveryInfo is one webhook delivery as the app's deliveries API shows it.
type DeliveryInfo struct {
	Event, Action string
	Attempted     bool
	StatusCode    int // 0 when the receiver could not be reached
}

// Deliveries lists the webhook deliveries in the order they were queued,
// for tests that need to know a delivery was attempted.
func (s *Server) Deliveries() []DeliveryInfo {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	out := make([]DeliveryInfo, 0, len(s.hooks.deliveries))
	for _, d := range s.hooks.deliveries {
		out = append(out, DeliveryInfo{Event: d.event, Action: d.action, Attempted: d.attempted, StatusCode: d.statusCode})
	}
	return out
}

// faultsJSON is the body of the /_sim/faults control endpoint.
type faultsJSON struct {
	Faults         []Fault `json:"faults"`
	WebhooksPaused *bool   `json:"webhooks_paused,omitempty"`
}

func (s *Server) faultState() faultsJSON {
	state := faultsJSON{Faults: []Fault{}, WebhooksPaused: new(bool)}
	s.faults.mu.Lock()
	for _, f := range s.faults.faults {
		state.Faults = append(state.Faults, *f)
	}
	s.faults.mu.Unlock()
	s.hooks.mu.Lock()
	*state.WebhooksPaused = s.hooks.paused
	s.hooks.mu.Unlock()
	return state
}

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.faultState())
}

// postFaults adds the faults in the body and, when given, sets whether
// webhooks are paused.
func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	var req faultsJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, r, http.StatusBadRequest, "Problems parsing JSON: "+err.Error())
		return
	}
	faults := make([]*Fault, 0, len(req.Faults))
	for _, f := range req.Faults {
		f, err := s.checkFault(f)
		if err != nil {
			writeError(w, r, http.StatusUnprocessableEntity, err.Error())
			return
		}
		faults = append(faults, &f)
	}
	s.faults.mu.Lock()
	s.faults.faults = append(s.faults.faults, faults...)
	s.faults.mu.Unlock()
	if req.WebhooksPaused != nil {
		s.PauseWebhooks(*req.WebhooksPaused)
	}
	writeJSON(w, r, http.StatusOK, s.faultState())
}

func (s *Server) deleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	noContent(w)
}

// simRunJSON is one run as GET /_sim/runs shows it: what the simulator
// decided, to check a client's view against.
type simRunJSON struct {
	ID         int64     `json:"id"`
	BuildID    string    `json:"build_id"`
	Status     string    `json:"status"`
	Conclusion optString `json:"conclusion"`
}

// getRuns is GET /_sim/runs: every run, oldest first, with the build id
// its run-name carries ("" when it carries none).
func (s *Server) getRuns(w http.ResponseWriter, r *http.Request) {
	carries := s.workflow.runNameShows("build_id")
	s.act.mu.Lock()
	out := make([]simRunJSON, 0, len(s.act.runs))
	for _, run := range s.act.runs {
		sr := simRunJSON{ID: run.id, Status: run.status, Conclusion: optString(run.conclusion)}
		if carries {
			sr.BuildID = run.inputs["build_id"]
		}
		out = append(out, sr)
	}
	s.act.mu.Unlock()
	writeJSON(w, r, http.StatusOK, out)
}
