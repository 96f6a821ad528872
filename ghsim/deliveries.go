package ghsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// GitHub's app webhook deliveries REST area: the log of attempts and
// redelivery.

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
	s.hooks.mu.Lock()
	out := []deliveryJSON{}
	more := false
	for _, d := range slices.Backward(s.hooks.deliveries) {
		if !d.attempted || (before != 0 && d.id >= before) {
			continue
		}
		if len(out) == p.perPage {
			more = true
			break
		}
		out = append(out, s.deliveryJSON(d, false))
	}
	s.hooks.mu.Unlock()
	base := s.URL()
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
	i, found := slices.BinarySearchFunc(s.hooks.deliveries, id, func(d *delivery, id int64) int { return cmp.Compare(d.id, id) })
	if !found || !s.hooks.deliveries[i].attempted {
		return nil
	}
	return s.hooks.deliveries[i]
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "delivery_id")
	respond(w, r, &s.hooks.mu, func() (int, any) {
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
	respond(w, r, &s.hooks.mu, func() (int, any) {
		d := s.deliveryByIDLocked(id)
		if d == nil {
			return http.StatusNotFound, "Not Found"
		}
		hookURL := s.webhookURL()
		if s.closed.Load() || hookURL == "" {
			return http.StatusServiceUnavailable, "Webhook delivery is not available"
		}
		s.enqueueLocked("redelivery", &delivery{
			id:         s.newID(),
			guid:       d.guid,
			event:      d.event,
			action:     d.action,
			url:        hookURL,
			body:       d.body,
			headers:    s.hookHeaders(d.event, d.guid, d.body),
			redelivery: true,
			queuedAt:   time.Now(),
		})
		return http.StatusAccepted, struct{}{}
	})
}
