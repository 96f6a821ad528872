package ghsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// hookID is the id of the app's webhook.
const hookID = 400000001

// hookState holds every delivery attempted or pending, and the queues
// that deliver them in order.
type hookState struct {
	mu         sync.Mutex
	deliveries []*delivery // by id
	queues     map[string][]*delivery
	paused     bool
	drop       map[string]int // event -> deliveries still to drop
}

// delivery is one attempt to deliver a webhook, recorded like GitHub's
// app hook deliveries.
type delivery struct {
	id         int64
	guid       string
	event      string
	action     string
	url        string
	body       []byte
	headers    map[string]string
	redelivery bool
	queuedAt   time.Time // on the monotonic clock, for delays

	// Set once attempted.
	attempted   bool
	deliveredAt time.Time
	duration    float64
	status      string
	statusCode  int
	respHeaders map[string]string
	respBody    string
}

type workflowRunEvent struct {
	Action       string              `json:"action"`
	WorkflowRun  runJSON             `json:"workflow_run"`
	Workflow     workflowJSON        `json:"workflow"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

type workflowJobEvent struct {
	Action       string              `json:"action"`
	WorkflowJob  jobJSON             `json:"workflow_job"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

type releaseEvent struct {
	Action       string              `json:"action"`
	Release      releaseJSON         `json:"release"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

func (s *Server) installationRef() installationRefJSON {
	return installationRefJSON{ID: s.cfg.InstallationID, NodeID: nodeID("Installation", s.cfg.InstallationID)}
}

// Webhooks of a run go through one queue per run, so they arrive in order.
func runQueue(r *run) string { return "run-" + strconv.FormatInt(r.id, 10) }

func (s *Server) workflowRunEventLocked(action string, r *run) {
	u := s.urls()
	s.send(runQueue(r), "workflow_run", action, workflowRunEvent{
		Action:       action,
		WorkflowRun:  s.runJSONLocked(r),
		Workflow:     s.workflowJSON(),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.bot(),
		Installation: s.installationRef(),
	})
}

func (s *Server) workflowJobEventLocked(action string, r *run) {
	u := s.urls()
	s.send(runQueue(r), "workflow_job", action, workflowJobEvent{
		Action:       action,
		WorkflowJob:  s.jobJSONLocked(r),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.bot(),
		Installation: s.installationRef(),
	})
}

func (s *Server) releaseEventLocked(action string, rel *release) {
	u := s.urls()
	s.send("release", "release", action, releaseEvent{
		Action:       action,
		Release:      s.releaseJSONLocked(rel),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.bot(),
		Installation: s.installationRef(),
	})
}

// send queues a webhook; its body is the state at the time of the event.
// Callers hold their area's lock, so an area's events queue in order.
func (s *Server) send(queue, event, action string, payload any) {
	hookURL := s.webhookURL()
	if hookURL == "" || s.closed.Load() {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		s.log.Error().Err(err).Str("event", event).Msg("encode webhook")
		return
	}
	guid := uuid.NewString()
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.enqueueLocked(queue, &delivery{
		id:       s.newID(),
		guid:     guid,
		event:    event,
		action:   action,
		url:      hookURL,
		body:     body,
		headers:  s.hookHeaders(event, guid, body),
		queuedAt: time.Now(),
	})
}

// hookHeaders are the headers GitHub sends with a delivery.
func (s *Server) hookHeaders(event, guid string, body []byte) map[string]string {
	mac256 := hmac.New(sha256.New, []byte(s.secret))
	mac256.Write(body)
	mac1 := hmac.New(sha1.New, []byte(s.secret))
	mac1.Write(body)
	return map[string]string{
		"Accept":                                 "*/*",
		"Content-Type":                           "application/json",
		"User-Agent":                             "GitHub-Hookshot/sim",
		"X-GitHub-Event":                         event,
		"X-GitHub-Delivery":                      guid,
		"X-GitHub-Hook-ID":                       strconv.Itoa(hookID),
		"X-GitHub-Hook-Installation-Target-Type": "integration",
		"X-GitHub-Hook-Installation-Target-ID":   strconv.FormatInt(s.cfg.AppID, 10),
		"X-Hub-Signature":                        "sha1=" + hex.EncodeToString(mac1.Sum(nil)),
		"X-Hub-Signature-256":                    "sha256=" + hex.EncodeToString(mac256.Sum(nil)),
	}
}

// enqueueLocked appends d to its queue and starts the queue's worker
// unless one is running. Workers exit when their queue runs dry. Callers
// hold hooks.mu.
func (s *Server) enqueueLocked(queue string, d *delivery) {
	s.hooks.deliveries = append(s.hooks.deliveries, d)
	pending, running := s.hooks.queues[queue]
	s.hooks.queues[queue] = append(pending, d)
	if !running {
		s.wg.Add(1)
		go s.drain(queue)
	}
}

func (s *Server) drain(queue string) {
	defer s.wg.Done()
	chaos := s.cfg.Chaos
	for {
		s.hooks.mu.Lock()
		pending := s.hooks.queues[queue]
		if len(pending) == 0 || s.ctx.Err() != nil {
			delete(s.hooks.queues, queue)
			s.hooks.mu.Unlock()
			return
		}
		// The oldest delivery waits out its delay, and with reordering the
		// window in which later ones may overtake it.
		ready := pending[0].queuedAt.Add(chaos.DelayWebhooks)
		if chaos.ReorderWebhooks {
			ready = ready.Add(ReorderWindow)
		}
		s.hooks.mu.Unlock()
		if wait := time.Until(ready); wait > 0 {
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				continue
			}
		}
		s.hooks.mu.Lock()
		pending = s.hooks.queues[queue]
		i := 0
		if chaos.ReorderWebhooks {
			i = s.pick(len(pending))
		}
		d := pending[i]
		s.hooks.queues[queue] = slices.Delete(pending, i, i+1)
		paused := s.hooks.paused || s.takeDropLocked(d.event)
		s.hooks.mu.Unlock()
		s.attempt(d, paused)
		if s.chance(chaos.DuplicateWebhooks) {
			s.attempt(s.duplicate(d), paused)
		}
	}
}

// duplicate records a second delivery of d's event under its guid.
func (s *Server) duplicate(d *delivery) *delivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	dup := &delivery{
		id: s.newID(), guid: d.guid, event: d.event, action: d.action, url: d.url,
		body: d.body, headers: d.headers, redelivery: d.redelivery, queuedAt: time.Now(),
	}
	s.hooks.deliveries = append(s.hooks.deliveries, dup)
	return dup
}

// attempt delivers d once. GitHub does not retry failed deliveries. A
// paused or dropped delivery fails as when the receiver is down.
func (s *Server) attempt(d *delivery, paused bool) {
	start := time.Now()
	code, status, respHeaders, respBody := 0, "failed to connect to host", map[string]string{}, ""
	if !paused && !s.chance(s.cfg.Chaos.DropWebhooks) {
		code, status, respHeaders, respBody = s.post(d)
	}
	ok := code >= 200 && code <= 299
	s.hooks.mu.Lock()
	d.attempted = true
	d.deliveredAt = s.now()
	d.duration = time.Since(start).Seconds()
	d.statusCode, d.status = code, status
	d.respHeaders, d.respBody = respHeaders, respBody
	s.hooks.mu.Unlock()
	s.stats.add(&s.stats.sent)
	if !ok {
		s.stats.add(&s.stats.failed)
	}
	ev := s.log.Debug()
	if !ok {
		ev = s.log.Warn()
	}
	ev.Str("event", d.event).Str("action", d.action).Str("delivery_id", d.guid).Int("status_code", code).Str("status", status).Msg("webhook delivery")
}

func (s *Server) post(d *delivery) (code int, status string, headers map[string]string, body string) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, "invalid URL", map[string]string{}, ""
	}
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	resp, err := s.hookClient.Do(req)
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return 0, "timed out", map[string]string{}, ""
	case err != nil:
		return 0, "failed to connect to host", map[string]string{}, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	headers = map[string]string{}
	for k := range resp.Header {
		headers[k] = resp.Header.Get(k)
	}
	status = "OK"
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		status = fmt.Sprintf("Invalid HTTP Response: %d", resp.StatusCode)
	}
	return resp.StatusCode, status, headers, string(b)
}
