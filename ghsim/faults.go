package ghsim

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// Fault makes the next Count calls to a route fail.
type Fault struct {
	// Route is a route as in Stats.ByRoute, such as
	// "GET /api/v3/repos/{owner}/{repo}/releases/tags/{tag}"; empty means any route.
	Route string `json:"route"`
	// Status is a 5xx server error, or 403 or 429 for GitHub's secondary
	// rate limit with Retry-After.
	Status int `json:"status"`
	// Count is how many calls fail (default 1).
	Count int `json:"count"`
	// RetryAfter is the Retry-After of a rate-limit fault in seconds (default 60).
	RetryAfter int `json:"retry_after,omitempty"`
	// AfterHandling carries the request out and then loses its answer,
	// replaced by the fault: a gateway that times out after the work was
	// done. A client that retries does the work twice.
	AfterHandling bool `json:"after_handling,omitempty"`
}

// faultState holds the injected faults still to be served.
type faultState struct {
	mu     sync.Mutex
	faults []*Fault
}

// InjectFault queues f; faults apply in the order they were injected.
func (s *Server) InjectFault(f Fault) error {
	f, err := s.checkFault(f)
	if err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.faults = append(s.faults.faults, &f)
	return nil
}

// checkFault validates f and fills in its defaults.
func (s *Server) checkFault(f Fault) (Fault, error) {
	if f.Route != "" && !s.routes[f.Route] {
		return f, fmt.Errorf("fault route %q: not a route of the simulator", f.Route)
	}
	if f.Count < 0 || f.RetryAfter < 0 {
		return f, fmt.Errorf("fault count and retry_after must not be negative")
	}
	switch {
	case f.Status >= 500 && f.Status <= 599:
	case f.Status == http.StatusForbidden || f.Status == http.StatusTooManyRequests:
		if f.RetryAfter <= 0 {
			f.RetryAfter = 60
		}
	default:
		return f, fmt.Errorf("fault status %d: want 5xx, 403 or 429", f.Status)
	}
	if f.Count == 0 {
		f.Count = 1
	}
	return f, nil
}

// ClearFaults drops pending faults and resumes webhook delivery.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.faults = nil
	s.faults.mu.Unlock()
	s.PauseWebhooks(false)
}

// PauseWebhooks makes deliveries fail, as when the receiver is down,
// until it is called with false. Failed deliveries are recorded and, as
// on GitHub, not retried unless redelivered.
func (s *Server) PauseWebhooks(paused bool) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.paused = paused
}

// takeFault consumes one call of the first fault matching route.
func (s *Server) takeFault(route string) *Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for i, f := range s.faults.faults {
		if f.Route != "" && f.Route != route {
			continue
		}
		hit := *f
		f.Count--
		if f.Count == 0 {
			s.faults.faults = append(s.faults.faults[:i], s.faults.faults[i+1:]...)
		}
		s.stats.add(&s.stats.faults)
		return &hit
	}
	return nil
}

func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.Status < 500 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		writeJSON(w, r, f.Status, apiError{
			Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			Status:           strconv.Itoa(f.Status),
		})
		return
	}
	writeError(w, r, f.Status, http.StatusText(f.Status))
}
