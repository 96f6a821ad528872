package appsetup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
)

// Options configure Run.
type Options struct {
	// WebURL is GitHub's web root: https://github.com/, or
	// https://HOST/ for GitHub Enterprise Server.
	WebURL string
	// APIURL is its REST root: https://api.github.com/ or
	// https://HOST/api/v3/.
	APIURL string
	// Org owns the App; empty makes it the person's own.
	Org string
	// Name of the App, unique on GitHub.
	Name string
	// ServiceURL is where GitHub reaches the build-service, such as
	// https://driverbuild.example.com: the App's homepage, with the
	// webhook route under it.
	ServiceURL string
	// ConfigPath is the config.yml to write the App into.
	ConfigPath string
	// Listener serves the page the person opens; it must be reachable
	// from their browser (loopback on their machine).
	Listener net.Listener
	// Out is told what to open and what was done.
	Out io.Writer
}

// Validate says which option is wrong.
func (o Options) Validate() error {
	var errs []error
	for name, v := range map[string]string{"GitHub web URL": o.WebURL, "GitHub API URL": o.APIURL, "service URL": o.ServiceURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an http or https URL", name, v))
		}
	}
	if o.Name == "" {
		errs = append(errs, errors.New("the App name is empty"))
	}
	if o.ConfigPath == "" {
		errs = append(errs, errors.New("the config path is empty"))
	}
	return errors.Join(errs...)
}

// App is what setup created.
type App struct {
	ID      int64
	Slug    string
	HTMLURL string
}

// InstallURL is where the App is installed on repositories.
func (a App) InstallURL() string { return strings.TrimSuffix(a.HTMLURL, "/") + "/installations/new" }

// Run serves the page that posts the App manifest to GitHub, waits for
// GitHub to send the person back with a code, trades the code for the
// App's credentials and writes them into ConfigPath. It returns once the
// config is written, or when ctx ends.
func Run(ctx context.Context, o Options) (App, error) {
	if err := o.Validate(); err != nil {
		return App{}, err
	}
	local := "http://" + o.Listener.Addr().String()
	state := rand.Text()
	manifest, err := json.Marshal(NewManifest(o.Name, strings.TrimSuffix(o.ServiceURL, "/"), local+"/callback"))
	if err != nil {
		return App{}, err
	}
	action := strings.TrimSuffix(o.WebURL, "/") + "/settings/apps/new"
	if o.Org != "" {
		action = strings.TrimSuffix(o.WebURL, "/") + "/organizations/" + url.PathEscape(o.Org) + "/settings/apps/new"
	}
	action += "?state=" + url.QueryEscape(state)

	gh, err := github.NewClient(&http.Client{Timeout: 30 * time.Second}).WithEnterpriseURLs(o.APIURL, o.APIURL)
	if err != nil {
		return App{}, fmt.Errorf("GitHub API URL: %w", err)
	}
	done := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = startPage.Execute(w, map[string]string{"Action": action, "Manifest": string(manifest), "Name": o.Name})
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state || q.Get("code") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_ = endPage.Execute(w, map[string]string{"Error": "This is not GitHub's answer to the page this setup served (the state does not match). Start from " + local + "/."})
			return
		}
		app, err := convert(r.Context(), gh, q.Get("code"), o)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			_ = endPage.Execute(w, map[string]string{"Error": err.Error()})
		} else {
			_ = endPage.Execute(w, map[string]string{"Name": o.Name, "Config": o.ConfigPath, "Install": app.InstallURL()})
		}
		select {
		case done <- result{app, err}:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(o.Listener) }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()

	fmt.Fprintf(o.Out, "Open %s/ in a browser signed in to GitHub, and create the App there.\n", local)
	select {
	case <-ctx.Done():
		return App{}, ctx.Err()
	case res := <-done:
		if res.err != nil {
			return App{}, res.err
		}
		fmt.Fprintf(o.Out, "Created the GitHub App %s (id %d) and wrote its id, private key and webhook secret to %s.\nInstall it on the repository: %s\n",
			res.app.Slug, res.app.ID, o.ConfigPath, res.app.InstallURL())
		return res.app, nil
	}
}

type result struct {
	app App
	err error
}

// convert trades the code for the App's credentials and writes them.
func convert(ctx context.Context, gh *github.Client, code string, o Options) (App, error) {
	cfg, _, err := gh.Apps.CompleteAppManifest(ctx, code)
	if err != nil {
		return App{}, fmt.Errorf("exchange the code GitHub sent for the App's credentials: %w", err)
	}
	if cfg.GetID() == 0 || cfg.GetPEM() == "" || cfg.GetWebhookSecret() == "" {
		return App{}, errors.New("GitHub's answer to the code lacks the App's id, private key or webhook secret")
	}
	creds := Credentials{IntegrationID: cfg.GetID(), PrivateKey: cfg.GetPEM(), WebhookSecret: cfg.GetWebhookSecret(), APIURL: gh.BaseURL.String(), WebURL: o.WebURL}
	if err := WriteConfig(o.ConfigPath, creds); err != nil {
		return App{}, err
	}
	return App{ID: cfg.GetID(), Slug: cfg.GetSlug(), HTMLURL: cfg.GetHTMLURL()}, nil
}

// The start page posts the manifest by itself; the button is for a
// browser without JavaScript. No external assets: it works offline.
var startPage = template.Must(template.New("start").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Create the {{.Name}} GitHub App</title></head>
<body>
<h1>Create the {{.Name}} GitHub App</h1>
<p>This sends the App's manifest to GitHub, which asks you to confirm its name and then sends you back here.</p>
<form id="create" action="{{.Action}}" method="post">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button type="submit">Create the GitHub App on GitHub</button>
</form>
<script>document.getElementById("create").submit();</script>
</body></html>
`))

var endPage = template.Must(template.New("end").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>driverbuild setup</title></head>
<body>
{{if .Error}}<h1>The App was not set up</h1><p id="error">{{.Error}}</p>
{{else}}<h1>{{.Name}} is created</h1>
<p>Its id, private key and webhook secret are in <code>{{.Config}}</code>. You can close this page and the setup.</p>
<p>Next, <a id="install" href="{{.Install}}">install the App</a> on the repository the builds run in.</p>
{{end}}</body></html>
`))
