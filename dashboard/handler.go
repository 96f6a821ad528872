package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/buildapi"
)

//go:embed web
var web embed.FS

// PollInterval is how often the page asks for GET /api/dashboard.
const PollInterval = 2 * time.Second

// Handler serves the page and its data; New makes one.
type Handler struct {
	store Store
	now   func() time.Time
	pulls bool

	page []byte
	csp  string

	// The last view and when it was read: every open page polls, and
	// they share one read a second (BenchmarkAuditLists/dashboard has
	// what one costs).
	mu     sync.Mutex
	view   View
	readAt time.Time
}

// fresh is how long pages share a view.
const fresh = time.Second

// New returns the dashboard of the store; repo, owner/name, is where the
// builds run, for the title; pulls says the service proposes kernels.json
// changes, whose open pull requests the page then shows.
func New(st Store, repo string, pulls bool, now func() time.Time) *Handler {
	h := &Handler{store: st, now: now, pulls: pulls}
	css, js := mustRead("web/dashboard.css"), mustRead("web/dashboard.js")
	t := template.Must(template.ParseFS(web, "web/index.html"))
	var b bytes.Buffer
	err := t.Execute(&b, map[string]any{
		"Repo": repo, "PollMillis": PollInterval.Milliseconds(),
		// Our own files, embedded: trusted as they are.
		"CSS": template.CSS(css), "JS": template.JS(js),
	})
	if err != nil {
		panic("dashboard: " + err.Error())
	}
	h.page = b.Bytes()
	// Only our inline script and style run: the page shows names of
	// kernels anyone may send, and a hash allows nothing but our own code.
	h.csp = "default-src 'none'; script-src '" + hash(js) + "'; style-src '" + hash(css) + "'; " +
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return h
}

func mustRead(name string) string {
	b, err := web.ReadFile(name)
	if err != nil {
		panic("dashboard: " + err.Error())
	}
	return string(b)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Register adds GET / and GET /api/dashboard to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.servePage)
	mux.HandleFunc("GET /api/dashboard", h.serveData)
}

func (h *Handler) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", h.csp)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(h.page)
}

func (h *Handler) serveData(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	v, err := h.read(r.Context())
	if err != nil {
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("dashboard")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(buildapi.Error{Error: "internal error; the page asks again shortly"})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) read(ctx context.Context) (View, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.readAt.IsZero() && now.Sub(h.readAt) < fresh {
		return h.view, nil
	}
	v, err := Read(ctx, h.store, now, h.pulls)
	if err != nil {
		return View{}, err
	}
	h.view, h.readAt = v, now
	return v, nil
}
