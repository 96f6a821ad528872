package ghsim

import (
	"maps"
	"net/http"
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
	requests, dispatches, sent, failed, faults int64
	byRoute                                    map[string]int64
}

func newCounters() counters {
	return counters{byRoute: map[string]int64{}}
}

func (s *Server) countRequest(route string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.requests++
	s.stats.byRoute[route]++
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	for _, r := range s.runs {
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
