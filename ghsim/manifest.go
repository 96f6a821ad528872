package ghsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHub's App manifest flow: a page posts a manifest to
// /settings/apps/new (or /organizations/{org}/settings/apps/new), the
// person confirms, GitHub redirects to the manifest's redirect_url with a
// one-time code, and POST /app-manifests/{code}/conversions trades the
// code for the App's id, key and webhook secret. ghsim stands for the
// person too: a valid manifest is confirmed at once. The App created is
// the simulator's own (its id, key and secret), so a service configured
// from the conversion talks to ghsim; its webhooks go where the manifest's
// hook_attributes say.

// manifestCodeTTL is how long GitHub honours a code.
const manifestCodeTTL = time.Hour

const manifestDocsURL = "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest"

type appManifest struct {
	Name           string `json:"name"`
	URL            string `json:"url"`
	Description    string `json:"description"`
	HookAttributes *struct {
		URL    string `json:"url"`
		Active *bool  `json:"active"`
	} `json:"hook_attributes"`
	RedirectURL        string            `json:"redirect_url"`
	CallbackURLs       []string          `json:"callback_urls"`
	SetupURL           string            `json:"setup_url"`
	Public             bool              `json:"public"`
	DefaultEvents      []string          `json:"default_events"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	RequestOAuth       bool              `json:"request_oauth_on_install"`
	SetupOnUpdate      bool              `json:"setup_on_update"`
}

type manifestCode struct {
	manifest appManifest
	issued   time.Time
}

type manifestFlow struct {
	s     *Server
	mu    sync.Mutex
	codes map[string]manifestCode
}

func (s *Server) registerManifestRoutes(api string) {
	f := &manifestFlow{s: s, codes: map[string]manifestCode{}}
	s.handle("POST /settings/apps/new", authNone, f.newApp)
	s.handle("POST /organizations/{org}/settings/apps/new", authNone, f.newApp)
	s.handle("POST "+api+"/app-manifests/{code}/conversions", authNone, f.convert)
}

// newApp is the page that creates an App from a posted manifest.
func (f *manifestFlow) newApp(w http.ResponseWriter, r *http.Request) {
	if org := r.PathValue("org"); org != "" && !strings.EqualFold(org, f.s.cfg.Owner) {
		webPage(w, http.StatusNotFound, "Not Found", "There is no organization "+org+".")
		return
	}
	if err := r.ParseForm(); err != nil {
		webPage(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	raw := r.PostForm.Get("manifest")
	if raw == "" {
		webPage(w, http.StatusUnprocessableEntity, "Invalid GitHub App configuration", "The manifest parameter is missing: post the App manifest as the form field manifest.")
		return
	}
	var m appManifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		webPage(w, http.StatusUnprocessableEntity, "Invalid GitHub App configuration", "The manifest is not valid JSON: "+err.Error())
		return
	}
	if problems := m.problems(); len(problems) > 0 {
		webPage(w, http.StatusUnprocessableEntity, "Invalid GitHub App configuration", strings.Join(problems, " "))
		return
	}
	if m.Name == "" {
		m.Name = f.s.cfg.AppSlug
	}
	code := make([]byte, 10)
	_, _ = rand.Read(code)
	c := hex.EncodeToString(code)
	f.mu.Lock()
	f.codes[c] = manifestCode{manifest: m, issued: f.s.now()}
	f.mu.Unlock()
	f.s.log.Info().Str("app", m.Name).Msg("app created from a manifest")

	to, _ := url.Parse(m.RedirectURL) // checked by problems
	q := to.Query()
	q.Set("code", c)
	if state := r.URL.Query().Get("state"); state != "" {
		q.Set("state", state)
	}
	to.RawQuery = q.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// problems are what GitHub's form would refuse in a manifest.
func (m appManifest) problems() []string {
	var out []string
	if !webURL(m.URL) {
		out = append(out, "url must be the App's homepage, an http or https URL.")
	}
	if m.HookAttributes != nil && (m.HookAttributes.Active == nil || *m.HookAttributes.Active) && !webURL(m.HookAttributes.URL) {
		out = append(out, "hook_attributes.url must be an http or https URL while the webhook is active.")
	}
	// GitHub would show the new App's page; a flow without a redirect
	// cannot be finished by a program.
	if !webURL(m.RedirectURL) {
		out = append(out, "redirect_url must be an http or https URL.")
	}
	for name, level := range m.DefaultPermissions {
		if level != "read" && level != "write" && level != "admin" {
			out = append(out, fmt.Sprintf("default_permissions.%s must be read, write or admin, not %q.", name, level))
		}
	}
	return out
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

type manifestAppJSON struct {
	appJSON
	ClientSecret  string `json:"client_secret"`
	WebhookSecret string `json:"webhook_secret"`
	PEM           string `json:"pem"`
}

// convert is POST /app-manifests/{code}/conversions: a code works once,
// within the hour.
func (f *manifestFlow) convert(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	f.mu.Lock()
	c, ok := f.codes[code]
	delete(f.codes, code)
	f.mu.Unlock()
	if !ok || f.s.now().Sub(c.issued) > manifestCodeTTL {
		writeJSON(w, r, http.StatusNotFound, apiError{Message: "Not Found", DocumentationURL: manifestDocsURL, Status: "404"})
		return
	}
	m := c.manifest
	perms := map[string]string{"metadata": "read"}
	for k, v := range m.DefaultPermissions {
		perms[k] = v
	}
	events := m.DefaultEvents
	if events == nil {
		events = []string{}
	}
	if m.HookAttributes != nil && (m.HookAttributes.Active == nil || *m.HookAttributes.Active) {
		f.s.SetWebhookURL(m.HookAttributes.URL)
	}
	u := f.s.urls()
	secret := make([]byte, 20)
	_, _ = rand.Read(secret)
	id := f.s.cfg.AppID
	writeJSON(w, r, http.StatusCreated, manifestAppJSON{
		appJSON: appJSON{
			ID: id, Slug: f.s.cfg.AppSlug, NodeID: nodeID("App", id), ClientID: "Iv1." + strconv.FormatInt(id, 16),
			Owner: u.ownerUser(), Name: m.Name, Description: m.Description, ExternalURL: m.URL,
			HTMLURL: u.web + "/apps/" + f.s.cfg.AppSlug, CreatedAt: timestamp(c.issued), UpdatedAt: timestamp(c.issued),
			Permissions: perms, Events: events,
		},
		ClientSecret:  hex.EncodeToString(secret),
		WebhookSecret: f.s.secret,
		PEM:           string(f.s.keyPEM),
	})
}

// webPage answers as GitHub's web pages do: HTML.
func webPage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>%s · GitHub</title></head><body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
