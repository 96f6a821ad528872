package ghsim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// rateWindow is one bucket's hour of the primary rate limit.
type rateWindow struct {
	used  int
	reset time.Time
}

// windowLocked returns bucket's current window, opening a new one when
// the last has passed; callers hold auth.mu.
func (s *Server) windowLocked(bucket int64) *rateWindow {
	now := s.cfg.Now()
	win := s.auth.limits[bucket]
	if win == nil || !now.Before(win.reset) {
		win = &rateWindow{reset: now.Add(time.Hour).Truncate(time.Second)}
		s.auth.limits[bucket] = win
	}
	return win
}

// rateLimit refuses the request with GitHub's 403 when bucket's budget is
// spent; otherwise it returns a writer that charges the request and sets
// the X-RateLimit headers once the status is known, because GitHub does
// not charge a 304 answer to a conditional request.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, bucket int64) (http.ResponseWriter, bool) {
	free := r.URL.Path == "/api/v3/rate_limit" // GitHub does not charge it
	s.auth.mu.Lock()
	spent := s.windowLocked(bucket).used >= s.cfg.RateLimit
	s.auth.mu.Unlock()
	if !spent || free {
		return &rateWriter{ResponseWriter: w, s: s, bucket: bucket, free: free}, true
	}
	s.setRateHeaders(w.Header(), bucket, false)
	who := fmt.Sprintf("installation ID %d", bucket)
	if bucket == appBucket {
		who = fmt.Sprintf("app ID %d", s.cfg.AppID)
	}
	writeJSON(w, r, http.StatusForbidden, apiError{
		Message:          fmt.Sprintf("API rate limit exceeded for %s. If you reach out to GitHub Support for help, please include the request ID.", who),
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
		Status:           "403",
	})
	return nil, false
}

func (s *Server) setRateHeaders(h http.Header, bucket int64, charge bool) {
	s.auth.mu.Lock()
	win := s.windowLocked(bucket)
	if charge {
		win.used++
	}
	used, reset := win.used, win.reset
	s.auth.mu.Unlock()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.cfg.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, s.cfg.RateLimit-used)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

type rateWriter struct {
	http.ResponseWriter
	s      *Server
	bucket int64
	free   bool
	wrote  bool
}

func (w *rateWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.s.setRateHeaders(w.Header(), w.bucket, !w.free && code != http.StatusNotModified)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rateWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

type rateJSON struct {
	Limit     int    `json:"limit"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	Reset     int64  `json:"reset"`
	Resource  string `json:"resource"`
}

// getRateLimit is GET /rate_limit, which GitHub does not charge.
func (s *Server) getRateLimit(w http.ResponseWriter, r *http.Request) {
	var bucket int64 = appBucket
	if rw, ok := w.(*rateWriter); ok {
		bucket = rw.bucket
	}
	s.auth.mu.Lock()
	win := s.windowLocked(bucket)
	core := rateJSON{Limit: s.cfg.RateLimit, Used: win.used, Remaining: max(0, s.cfg.RateLimit-win.used), Reset: win.reset.Unix(), Resource: "core"}
	s.auth.mu.Unlock()
	writeJSON(w, r, http.StatusOK, map[string]any{
		"resources": map[string]rateJSON{"core": core},
		"rate":      core,
	})
}
