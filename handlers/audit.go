package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// AuditStore is what the audit API reads.
type AuditStore interface {
	BuildByID(ctx context.Context, id string) (store.Build, error)
	BuildEvents(ctx context.Context, buildID string) ([]store.Event, error)
	BuildsList(ctx context.Context, f store.BuildFilter) ([]store.Build, string, error)
	RequestsList(ctx context.Context, f store.RequestFilter) ([]store.Request, string, error)
	DeliveriesList(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, string, error)
}

func (a *API) registerAudit(mux *http.ServeMux) {
	for route, h := range map[string]http.HandlerFunc{
		"/api/builds":             a.auditBuilds,
		"/api/builds/{id}/events": a.auditEvents,
		"/api/requests":           a.auditRequests,
		"/api/deliveries":         a.auditDeliveries,
	} {
		mux.Handle("GET "+route, a.Metrics.instrument(route, h))
	}
}

func (a *API) auditBuilds(w http.ResponseWriter, r *http.Request) {
	var f store.BuildFilter
	q := query{v: r.URL.Query()}
	f.Status, f.Reason = oneOf(&q, "status", lifecycle.Statuses), oneOf(&q, "reason", lifecycle.Reasons)
	f.Distribution, f.KernelVersion, f.DriverVersion = q.word("distribution"), q.word("kernel"), q.word("driver_version")
	f.Since, f.Until, f.Page = q.time("since"), q.time("until"), q.page()
	if !q.ok(w, "status", "reason", "distribution", "kernel", "driver_version", "since", "until", "limit", "cursor") {
		return
	}
	bs, next, err := a.Audit.BuildsList(r.Context(), f)
	if listFailed(w, r, err) {
		return
	}
	out := buildapi.Builds{Builds: []buildapi.Build{}, NextCursor: next}
	for _, b := range bs {
		out.Builds = append(out.Builds, statusOf(b))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) auditEvents(w http.ResponseWriter, r *http.Request) {
	b, ok := a.buildOf(w, r, a.Audit.BuildByID)
	if !ok {
		return
	}
	es, err := a.Audit.BuildEvents(r.Context(), b.ID)
	if listFailed(w, r, err) {
		return
	}
	out := buildapi.Events{Events: []buildapi.Event{}}
	for _, e := range es {
		out.Events = append(out.Events, buildapi.Event{From: string(e.From), To: string(e.To), Reason: string(e.Reason),
			Source: string(e.Source), Detail: e.Detail, RunURL: b.RunURL, At: e.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) auditRequests(w http.ResponseWriter, r *http.Request) {
	var f store.RequestFilter
	q := query{v: r.URL.Query()}
	f.Outcome, f.KernelVersion, f.Client = q.word("outcome"), q.word("kernel"), q.word("client")
	f.Since, f.Until, f.Page = q.time("since"), q.time("until"), q.page()
	if !q.ok(w, "outcome", "kernel", "client", "since", "until", "limit", "cursor") {
		return
	}
	rs, next, err := a.Audit.RequestsList(r.Context(), f)
	if listFailed(w, r, err) {
		return
	}
	out := buildapi.Requests{Requests: []buildapi.Request{}, NextCursor: next}
	for _, q := range rs {
		out.Requests = append(out.Requests, buildapi.Request{ReceivedAt: q.ReceivedAt, Client: q.Client,
			KernelVersion: q.KernelVersion, Architecture: q.Architecture, Distribution: q.Distribution,
			DistroVersion: q.DistroVersion, DriverVersion: q.DriverVersion, Outcome: q.Outcome,
			HTTPStatus: q.HTTPStatus, BuildID: q.BuildID, Field: q.Field, Error: q.Error})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) auditDeliveries(w http.ResponseWriter, r *http.Request) {
	var f store.DeliveryFilter
	q := query{v: r.URL.Query()}
	f.Event, f.Since, f.Page = q.word("event"), q.time("since"), q.page()
	if !q.ok(w, "event", "since", "limit", "cursor") {
		return
	}
	ds, next, err := a.Audit.DeliveriesList(r.Context(), f)
	if listFailed(w, r, err) {
		return
	}
	out := buildapi.Deliveries{Deliveries: []buildapi.Delivery{}, NextCursor: next}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, buildapi.Delivery{DeliveryID: d.ID, Event: d.Event, Action: d.Action, ReceivedAt: d.ReceivedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// listFailed answers a failed list, a bad cursor being the client's fault.
func listFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "cursor", "cursor: not one a list returned; send the next_cursor of the page before, or none")
	default:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("audit list")
		writeError(w, http.StatusInternalServerError, "", "internal error; retry later")
	}
	return true
}

// query reads a list's filters, keeping the first thing wrong with them.
type query struct {
	v          url.Values
	field, msg string
}

func (q *query) fail(field, format string, args ...any) {
	if q.field == "" {
		q.field, q.msg = field, field+": "+fmt.Sprintf(format, args...)
	}
}

// get returns the parameter's one value, "" when absent.
func (q *query) get(name string) string {
	vs := q.v[name]
	if len(vs) > 1 {
		q.fail(name, "given more than once")
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// wordRe is what a filter compared for equality may hold: the characters
// of kernel releases, versions, distributions, event and token names.
var wordRe = regexp.MustCompile(`^[A-Za-z0-9._+~-]{1,128}$`)

func (q *query) word(name string) string {
	v := q.get(name)
	if v != "" && !wordRe.MatchString(v) {
		q.fail(name, "want at most 128 letters, digits and ._+~-")
	}
	return v
}

func oneOf[T ~string](q *query, name string, allowed []T) T {
	v := T(q.get(name))
	if v != "" && !slices.Contains(allowed, v) {
		q.fail(name, "accepted are %v", allowed)
	}
	return v
}

func (q *query) time(name string) time.Time {
	v := q.get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		q.fail(name, "want an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	return t
}

func (q *query) page() store.Page {
	p := store.Page{Cursor: q.get("cursor")}
	if v := q.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			q.fail("limit", "want a number from 1 to %d (default %d)", store.MaxLimit, store.DefaultLimit)
		}
		p.Limit = n
	}
	return p
}

// ok answers 400 for the first thing wrong, an unknown parameter included,
// and reports whether there was none.
func (q *query) ok(w http.ResponseWriter, known ...string) bool {
	for _, name := range slices.Sorted(maps.Keys(q.v)) {
		if !slices.Contains(known, name) {
			q.fail(clip(name), "unknown parameter; accepted are %v", known)
		}
	}
	if q.field == "" {
		return true
	}
	writeError(w, http.StatusBadRequest, q.field, "%s", q.msg)
	return false
}
