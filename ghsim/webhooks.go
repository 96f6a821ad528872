package ghsim

import (
	"bytes"
	"cmp"
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
	"time"

	"github.com/google/uuid"
)

// hookID is the id of the app's webhook.
const hookID = 400000001

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
	u := s.urlsLocked()
	s.sendLocked(runQueue(r), "workflow_run", action, workflowRunEvent{
		Action:       action,
		WorkflowRun:  s.runJSONLocked(r),
		Workflow:     s.workflowJSONLocked(),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.botLocked(),
		Installation: s.installationRef(),
	})
}

func (s *Server) workflowJobEventLocked(action string, r *run) {
	u := s.urlsLocked()
	s.sendLocked(runQueue(r), "workflow_job", action, workflowJobEvent{
		Action:       action,
		WorkflowJob:  s.jobJSONLocked(r),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.botLocked(),
		Installation: s.installationRef(),
	})
}

func (s *Server) releaseEventLocked(action string, rel *release) {
	u := s.urlsLocked()
	s.sendLocked("release", "release", action, releaseEvent{
		Action:       action,
		Release:      s.releaseJSONLocked(rel),
		Repository:   u.fullRepo(s.started),
		Organization: u.org(),
		Sender:       s.botLocked(),
		Installation: s.installationRef(),
	})
}

// sendLocked queues a webhook; its body is the state at the time of the event.
func (s *Server) sendLocked(queue, event, action string, payload any) {
	if s.webhookURL == "" || s.closed {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		s.log.Error().Err(err).Str("event", event).Msg("encode webhook")
		return
	}
	guid := uuid.NewString()
	s.enqueueLocked(queue, &delivery{
		id:      s.newIDLocked(),
		guid:    guid,
		event:   event,
		action:  action,
		url:     s.webhookURL,
		body:    body,
		headers: s.hookHeaders(event, guid, body),
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
// unless one is running. Workers exit when their queue runs dry.
func (s *Server) enqueueLocked(queue string, d *delivery) {
	s.deliveries = append(s.deliveries, d)
	pending, running := s.queues[queue]
	s.queues[queue] = append(pending, d)
	if !running {
		s.wg.Add(1)
		go s.drain(queue)
	}
}

func (s *Server) drain(queue string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		pending := s.queues[queue]
		if len(pending) == 0 || s.ctx.Err() != nil {
			delete(s.queues, queue)
			s.mu.Unlock()
			return
		}
		d := pending[0]
		s.queues[queue] = pending[1:]
		paused := s.paused
		s.mu.Unlock()
		s.attempt(d, paused)
	}
}

// attempt delivers d once. GitHub does not retry failed deliveries.
func (s *Server) attempt(d *delivery, paused bool) {
	start := time.Now()
	code, status, respHeaders, respBody := 0, "failed to connect to host", map[string]string{}, ""
	if !paused {
		code, status, respHeaders, respBody = s.post(d)
	}
	ok := code >= 200 && code <= 299
	s.mu.Lock()
	d.attempted = true
	d.deliveredAt = s.now()
	d.duration = time.Since(start).Seconds()
	d.statusCode, d.status = code, status
	d.respHeaders, d.respBody = respHeaders, respBody
	s.stats.sent++
	if !ok {
		s.stats.failed++
	}
	s.mu.Unlock()
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
	resp, err := s.hooks.Do(req)
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

// deliveryJSON is GitHub's hook delivery; request and response only in
// the single-delivery view.
type deliveryJSON struct {
	ID             int64     `json:"id"`
	GUID           string    `json:"guid"`
	DeliveredAt    timestamp `json:"delivered_at"`
	Redelivery     bool      `json:"redelivery"`
	Duration       float64   `json:"duration"`
	Status         string    `json:"status"`
	StatusCode     int       `json:"status_code"`
	Event          string    `json:"event"`
	Action         optString `json:"action"`
	InstallationID int64     `json:"installation_id"`
	RepositoryID   int64     `json:"repository_id"`
	ThrottledAt    timestamp `json:"throttled_at"`
	URL            string    `json:"url,omitempty"`
	Request        *hookIO   `json:"request,omitempty"`
	Response       *hookIO   `json:"response,omitempty"`
}

type hookIO struct {
	Headers map[string]string `json:"headers"`
	Payload any               `json:"payload"`
}

func (s *Server) deliveryJSON(d *delivery, full bool) deliveryJSON {
	out := deliveryJSON{
		ID:             d.id,
		GUID:           d.guid,
		DeliveredAt:    timestamp(d.deliveredAt),
		Redelivery:     d.redelivery,
		Duration:       d.duration,
		Status:         d.status,
		StatusCode:     d.statusCode,
		Event:          d.event,
		Action:         optString(d.action),
		InstallationID: s.cfg.InstallationID,
		RepositoryID:   repositoryID,
	}
	if full {
		out.URL = d.url
		out.Request = &hookIO{Headers: d.headers, Payload: json.RawMessage(d.body)}
		out.Response = &hookIO{Headers: d.respHeaders, Payload: d.respBody}
	}
	return out
}

// listDeliveries is GET /app/hook/deliveries: attempted deliveries,
// newest first, paginated by cursor as GitHub does.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := parsePage(q)
	before := int64(0)
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.ParseInt(c, 10, 64)
		if err != nil || id <= 0 {
			writeError(w, r, http.StatusUnprocessableEntity, "Invalid cursor")
			return
		}
		before = id
	}
	s.mu.Lock()
	out := []deliveryJSON{}
	more := false
	for _, d := range slices.Backward(s.deliveries) {
		if !d.attempted || (before != 0 && d.id >= before) {
			continue
		}
		if len(out) == p.perPage {
			more = true
			break
		}
		out = append(out, s.deliveryJSON(d, false))
	}
	base := s.baseURL
	s.mu.Unlock()
	if more {
		next := r.URL.Query()
		next.Set("per_page", strconv.Itoa(p.perPage))
		next.Set("cursor", strconv.FormatInt(out[len(out)-1].ID, 10))
		next.Del("page")
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, base, r.URL.Path, next.Encode()))
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) deliveryByIDLocked(id int64) *delivery {
	i, found := slices.BinarySearchFunc(s.deliveries, id, func(d *delivery, id int64) int { return cmp.Compare(d.id, id) })
	if !found || !s.deliveries[i].attempted {
		return nil
	}
	return s.deliveries[i]
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "delivery_id")
	s.respond(w, r, func() (int, any) {
		d := s.deliveryByIDLocked(id)
		if d == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.deliveryJSON(d, true)
	})
}

// redeliver is POST /app/hook/deliveries/{delivery_id}/attempts: the same
// body and delivery guid again, recorded as a new delivery.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "delivery_id")
	s.respond(w, r, func() (int, any) {
		d := s.deliveryByIDLocked(id)
		if d == nil {
			return http.StatusNotFound, "Not Found"
		}
		if s.closed || s.webhookURL == "" {
			return http.StatusServiceUnavailable, "Webhook delivery is not available"
		}
		s.enqueueLocked("redelivery", &delivery{
			id:         s.newIDLocked(),
			guid:       d.guid,
			event:      d.event,
			action:     d.action,
			url:        s.webhookURL,
			body:       d.body,
			headers:    s.hookHeaders(d.event, d.guid, d.body),
			redelivery: true,
		})
		return http.StatusAccepted, struct{}{}
	})
}
