// Package handlers holds the HTTP side of the build-service: the REST API
// that loaders call and the GitHub webhook handlers, one file per event.
// A handler parses, asks the builds package to decide, and answers.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"golang.org/x/sync/singleflight"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// MaxBodyBytes bounds a POST /build body.
const MaxBodyBytes = 64 << 10

// storeTime bounds the database work of one request, so that a database
// that stopped answering on an open connection never hangs a request past
// the server's 30 s write timeout: the client gets a 503 instead. A stopped
// or unreachable database fails in seconds anyway: its connections are
// cut, and a new one gives up after 2 s. The bound is loose because a boot
// storm on a loaded machine keeps requests of a live database waiting for
// a connection for many seconds, and they must not be turned away.
const storeTime = 25 * time.Second

// retryAfterOutage is the Retry-After of a 503 while the database is down.
const retryAfterOutage = "5"

// Builder answers build requests.
type Builder interface {
	Request(ctx context.Context, r kernel.Request) (builds.Outcome, error)
}

// APIStore is what the REST API reads and writes directly.
type APIStore interface {
	BuildByID(ctx context.Context, id string) (store.Build, error)
	ListingByBuild(ctx context.Context, buildID string) (store.Listing, error)
	RequestRecord(ctx context.Context, r store.Request) error
	Ping(ctx context.Context) error
}

// API serves POST /build, GET /status/{id}, GET /healthz, GET /readyz,
// GET /metrics, and behind an admin token the operators' routes: with
// Audit set, the audit API under /api/.
type API struct {
	Builder Builder
	Store   APIStore
	Audit   AuditStore
	// Access guards the loaders' and the operators' routes.
	Access  *Access
	Metrics *Metrics
	// KernelsJSON: done builds say where their kernel is on its way into
	// kernels.json.
	KernelsJSON bool
	Now         func() time.Time
	// Dashboard, when set, adds the operators' page and its data, behind
	// an admin token.
	Dashboard Routes

	// statusReads shares one read of a build among the status polls that
	// ask for it at once.
	statusReads singleflight.Group
}

// Routes are handlers that add themselves to a mux.
type Routes interface {
	Register(mux *http.ServeMux)
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	if a.Access == nil {
		panic("handlers: API.Access is nil; NewAccess says who may call the API")
	}
	mux.Handle("POST /build", a.Metrics.instrument("/build", a.Access.Loader(http.HandlerFunc(a.build))))
	mux.Handle("GET /status/{id}", a.Metrics.instrument("/status/{id}", a.Access.Loader(http.HandlerFunc(a.status))))
	// The operators' routes: all of /api/ but the webhook, which app.Start
	// serves before this mux.
	admin := a.Access.Admin(a.adminRoutes())
	mux.Handle("/api/", admin)
	mux.Handle("GET /{$}", admin)
	mux.Handle("GET /metrics", a.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, format string, args ...any) {
	writeJSON(w, code, buildapi.Error{Error: fmt.Sprintf(format, args...), Field: field})
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Store.Ping(ctx); err != nil {
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("readiness: database unreachable")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// unavailable reports whether err came of a database that went away (the
// store says so, or a ping tells), or of one too busy to answer in
// storeTime: either way the client should come back shortly.
func (a *API) unavailable(ctx context.Context, err error) bool {
	if errors.Is(err, store.ErrUnavailable) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("database unavailable")
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("database too slow")
		return true
	}
	pingCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	perr := a.Store.Ping(pingCtx)
	if perr == nil {
		return false
	}
	zerolog.Ctx(ctx).Warn().Err(err).AnErr("ping", perr).Msg("database unavailable")
	return true
}

func (a *API) build(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTime)
	defer cancel()
	req, code, bad := decodeRequest(w, r)
	audit := store.Request{
		ReceivedAt: a.Now().UTC(), KernelVersion: clip(req.KernelVersion), Architecture: clip(req.Architecture),
		Distribution: clip(req.Distribution), DistroVersion: clip(req.DistroVersion), DriverVersion: clip(req.DriverVersion),
		Client: ClientName(ctx),
	}
	// The audit row is handed to the store before the answer; the service
	// writes them in batches (AuditLog), within AuditFlushEvery.
	respond := func(code int, outcome, buildID string, body any) {
		audit.HTTPStatus, audit.Outcome, audit.BuildID = code, outcome, buildID
		logBuildID(r, buildID)
		a.Metrics.requests.WithLabelValues(outcome).Inc()
		if e, ok := body.(buildapi.Error); ok {
			audit.Error, audit.Field = dbText(e.Error), dbText(e.Field)
		}
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := a.Store.RequestRecord(recordCtx, audit); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("record build request")
		}
		writeJSON(w, code, body)
	}
	if bad != nil {
		respond(code, "invalid", "", *bad)
		return
	}

	out, err := a.Builder.Request(ctx, req)
	var fe *kernel.FieldError
	switch {
	case errors.As(err, &fe):
		respond(http.StatusBadRequest, "invalid", "", buildapi.Error{Error: fe.Error(), Field: fe.Field})
		return
	case errors.Is(err, builds.ErrIndexNotReady):
		w.Header().Set("Retry-After", "10")
		respond(http.StatusServiceUnavailable, "unavailable", "", buildapi.Error{Error: "the service is starting and has not read the releases from GitHub yet; retry shortly"})
		return
	case err != nil && a.unavailable(ctx, err):
		w.Header().Set("Retry-After", retryAfterOutage)
		respond(http.StatusServiceUnavailable, "unavailable", "", buildapi.Error{Error: "the database is unavailable; the request was not accepted, retry shortly"})
		return
	case err != nil:
		zerolog.Ctx(ctx).Error().Err(err).Msg("build request")
		respond(http.StatusInternalServerError, "error", "", buildapi.Error{Error: "internal error; the request was not accepted, retry later"})
		return
	}

	b := out.Build
	switch out.Kind {
	case builds.KindCached:
		respond(http.StatusOK, string(out.Kind), "", buildapi.Done{Status: buildapi.StatusDone, Package: out.Package, DownloadURL: out.Asset.DownloadURL, SHA256: hexDigest(out.Asset.Digest)})
	case builds.KindMismatch:
		msg := fmt.Sprintf("%s exists but was built for %s %s, not %s: configure a package name template with {distro_version} to build both", out.Package, out.Request.Distribution, out.Asset.DistroVersion, out.Request.DistroVersion)
		audit.Error = msg
		respond(http.StatusConflict, string(out.Kind), "", buildapi.Mismatch{Error: buildapi.Error{Error: msg, Field: "distro_version"}, Package: out.Package, BuiltFor: out.Asset.DistroVersion})
	case builds.KindDispatched, builds.KindDeduplicated:
		respond(http.StatusAccepted, string(out.Kind), b.ID, buildapi.Accepted{Message: "workflow dispatched", BuildID: b.ID, Status: string(b.Status), Deduplicated: out.Kind == builds.KindDeduplicated})
	case builds.KindCooldown:
		body := statusOf(b)
		body.Message = fmt.Sprintf("the last build of this kernel failed (%s) at %s; it is not retried before %s", b.Reason, b.FinishedAt.Format(time.RFC3339), out.RetryAt.Format(time.RFC3339))
		respond(http.StatusOK, string(out.Kind), b.ID, body)
	default:
		zerolog.Ctx(ctx).Error().Str("kind", string(out.Kind)).Msg("build request: unknown outcome")
		respond(http.StatusInternalServerError, "error", "", buildapi.Error{Error: "internal error; retry later"})
	}
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	b, ok := a.buildOf(w, r, a.sharedBuild)
	if !ok {
		return
	}
	body := statusOf(b)
	if a.KernelsJSON && b.Status == lifecycle.StatusDone {
		l, err := a.Store.ListingByBuild(r.Context(), b.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The proposal job has not run yet.
			body.KernelsJSON = &buildapi.KernelsJSON{State: string(store.ListingPending)}
		case err != nil:
			zerolog.Ctx(r.Context()).Error().Err(err).Msg("load kernels.json listing")
			writeError(w, http.StatusInternalServerError, "", "internal error; retry later")
			return
		default:
			body.KernelsJSON = &buildapi.KernelsJSON{State: string(l.State), PRURL: l.PRURL}
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// buildOf loads the build of the request's {id}, or answers why not.
func (a *API) buildOf(w http.ResponseWriter, r *http.Request, byID func(context.Context, string) (store.Build, error)) (store.Build, bool) {
	id := r.PathValue("id")
	if !buildIDRe.MatchString(id) {
		writeError(w, http.StatusNotFound, "", "no build %q: a build id is a UUID as POST /build returned it", clip(id))
		return store.Build{}, false
	}
	logBuildID(r, id)
	ctx, cancel := context.WithTimeout(r.Context(), storeTime)
	defer cancel()
	b, err := byID(ctx, id)
	switch {
	case err != nil && r.Context().Err() != nil:
		// The client went away: there is no one to answer, and nothing
		// wrong with the database to look for.
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "", "no build %s", id)
	case err != nil && a.unavailable(ctx, err):
		w.Header().Set("Retry-After", retryAfterOutage)
		writeError(w, http.StatusServiceUnavailable, "", "the database is unavailable; retry shortly")
	case err != nil:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("load build")
		writeError(w, http.StatusInternalServerError, "", "internal error; retry later")
	default:
		return b, true
	}
	return store.Build{}, false
}

// sharedBuild reads a build for GET /status, once for all the polls of
// it that arrive together: a fleet booting on one new kernel polls one
// build from every node, and a read each would queue them all on the
// database's few connections behind each other (and the posts behind
// them). A poll that joins a read begun a moment before it arrived may
// see the build as it was then; its next poll sees what came after. The
// read is not cut short by the poll that began it; each poll waits for
// it no longer than its own context allows.
func (a *API) sharedBuild(ctx context.Context, id string) (store.Build, error) {
	read := a.statusReads.DoChan(id, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTime)
		defer cancel()
		return a.Store.BuildByID(ctx, id)
	})
	select {
	case res := <-read:
		b, _ := res.Val.(store.Build)
		return b, res.Err
	case <-ctx.Done():
		return store.Build{}, ctx.Err()
	}
}

// logBuildID adds the build a request is about to its log lines.
func logBuildID(r *http.Request, id string) {
	if id != "" {
		hlog.FromRequest(r).UpdateContext(func(c zerolog.Context) zerolog.Context { return c.Str("build_id", id) })
	}
}

var buildIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func statusOf(b store.Build) buildapi.Build {
	return buildapi.Build{
		BuildID: b.ID, Status: string(b.Status), Reason: string(b.Reason), Package: b.Package,
		DownloadURL: b.DownloadURL, SHA256: hexDigest(b.Digest), RunURL: b.RunURL, Progress: b.Progress,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
	}
}

// hexDigest turns GitHub's "sha256:<hex>" into the bare hex loaders check.
func hexDigest(d string) string {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok {
		return ""
	}
	return hex
}

// clip bounds what a hostile client can make us store or echo.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max]
	}
	return dbText(s)
}

// dbText is s as every store keeps it: valid UTF-8 without NUL, which
// Postgres refuses in text (and a batch of audit rows with it).
func dbText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "?"), "\x00", "?")
}
