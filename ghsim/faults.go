package ghsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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

// faultState holds the injected faults still to be served, and the
// random source of the chaos faults.
type faultState struct {
	mu     sync.Mutex
	faults []*Fault
	rng    *rand.Rand
}

// Chaos makes faults happen at random, each with its own probability, for
// tests that prove a client holds against all of them at once.
type Chaos struct {
	// DropWebhooks is the probability that a delivery fails as if the
	// receiver were down; it is recorded as failed, so redelivery finds it.
	DropWebhooks float64
	// DuplicateWebhooks is the probability that a delivery is made twice,
	// under the same delivery guid.
	DuplicateWebhooks float64
	// ReorderWebhooks lets the webhooks of one run overtake each other
	// within ReorderWindow.
	ReorderWebhooks bool
	// DelayWebhooks holds each delivery back this long after its event.
	DelayWebhooks time.Duration
	// APIErrorRate is the probability that an API request is answered with
	// a 500, 502 or 503 before it is carried out.
	APIErrorRate float64
	// SecondaryLimitRate is the probability that an API request is refused
	// with GitHub's 403 secondary rate limit, with Retry-After.
	SecondaryLimitRate float64
	// SecondaryRetryAfter is that refusal's Retry-After (default 60s, as
	// GitHub asks; whole seconds, at least one).
	SecondaryRetryAfter time.Duration
	// DispatchAmbiguous is the probability that a workflow dispatch
	// creates its run and then answers 502, as a gateway that timed out.
	DispatchAmbiguous float64
	// Seed makes the random choices repeatable; 0 picks a random seed.
	Seed uint64
}

// ReorderWindow is how long a reordering webhook queue gathers deliveries
// before it sends one of them, picked at random.
const ReorderWindow = 100 * time.Millisecond

// Validate checks that probabilities are within [0, 1] and durations not
// negative, naming the command-line flag of a bad value.
func (c Chaos) Validate() error {
	for name, p := range map[string]float64{
		"drop-webhooks": c.DropWebhooks, "duplicate-webhooks": c.DuplicateWebhooks, "api-error-rate": c.APIErrorRate,
		"secondary-limit-rate": c.SecondaryLimitRate, "dispatch-ambiguous": c.DispatchAmbiguous,
	} {
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("%s %v: want a probability from 0 to 1", name, p)
		}
	}
	if c.DelayWebhooks < 0 || c.SecondaryRetryAfter < 0 {
		return fmt.Errorf("delay-webhooks and secondary-retry-after must not be negative")
	}
	return nil
}

func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return rand.New(rand.NewPCG(seed, seed>>1|1))
}

// chance reports true with probability p.
func (s *Server) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.rng.Float64() < p
}

// pick returns a random index below n.
func (s *Server) pick(n int) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.rng.IntN(n)
}

// dispatchRoute is the route -dispatch-ambiguous applies to.
const dispatchRoute = "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"

// chaosFault is the fault, if any, that chance deals an API route.
func (s *Server) chaosFault(route string) *Fault {
	_, path, _ := strings.Cut(route, " ")
	if !strings.HasPrefix(path, "/api/") {
		return nil
	}
	c := s.cfg.Chaos
	var f *Fault
	switch {
	case route == dispatchRoute && s.chance(c.DispatchAmbiguous):
		f = &Fault{Route: route, Status: http.StatusBadGateway, AfterHandling: true}
	case s.chance(c.APIErrorRate):
		statuses := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		f = &Fault{Route: route, Status: statuses[s.pick(len(statuses))]}
	case s.chance(c.SecondaryLimitRate):
		f = &Fault{Route: route, Status: http.StatusForbidden, RetryAfter: max(1, int(c.SecondaryRetryAfter.Round(time.Second)/time.Second))}
	default:
		return nil
	}
	s.stats.add(&s.stats.faults)
	return f
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

// DropWebhooks makes the next n deliveries of event fail as if the
// receiver were down: recorded as failed, so a redelivery finds them.
func (s *Server) DropWebhooks(event string, n int) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.drop == nil {
		s.hooks.drop = map[string]int{}
	}
	s.hooks.drop[event] += n
}

// takeDropLocked consumes one of DropWebhooks' drops of event; callers
// hold hooks.mu.
func (s *Server) takeDropLocked(event string) bool {
	if s.hooks.drop[event] <= 0 {
		return false
	}
	s.hooks.drop[event]--
	return true
}

// takeFault consumes one call of the first fault matching route.
func (s *Server) takeFault(route string) *Fault {
	s.faults.mu.Lock()
	var hit *Fault
	for i, f := range s.faults.faults {
		if f.Route != "" && f.Route != route {
			continue
		}
		taken := *f
		hit = &taken
		f.Count--
		if f.Count == 0 {
			s.faults.faults = append(s.faults.faults[:i], s.faults.faults[i+1:]...)
		}
		break
	}
	s.faults.mu.Unlock()
	if hit != nil {
		s.stats.add(&s.stats.faults)
	}
	return hit
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
