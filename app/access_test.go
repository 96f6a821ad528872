package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/internal/e2e"
)

const (
	loaderToken = "loader-token-1f0c"
	adminToken  = "admin-token-9d2e"
	legacyToken = "plain-token-77aa"
)

// withClients configures a loader and an admin client, and a plain
// api.tokens entry.
func withClients(c *app.Config) {
	c.API.Clients = []handlers.Client{
		{Name: "fleet", Role: handlers.RoleLoader, SHA256: handlers.HashToken(loaderToken)},
		{Name: "ops", Role: handlers.RoleAdmin, SHA256: strings.ToUpper(handlers.HashToken(adminToken))},
	}
	c.API.Tokens = []string{legacyToken}
	c.API.AllowAnonymous = false
}

// call sends a request with an Authorization header built by auth.
func call(t *testing.T, method, url, body string, auth func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// passed stands for "the gate let the request through": what the route
// then answers is its own business.
const passed = 0

func TestAccess(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: withClients})
	missingBuild := env.ServiceURL + "/status/00000000-0000-4000-8000-000000000000"
	routes := map[string]struct{ method, url, body string }{
		"POST /build":       {http.MethodPost, env.ServiceURL + "/build", request("6.8.0-1053-gcp")},
		"GET /status/{id}":  {http.MethodGet, missingBuild, ""},
		"GET /api/builds":   {http.MethodGet, env.ServiceURL + "/api/builds", ""},
		"GET / (dashboard)": {http.MethodGet, env.ServiceURL + "/", ""},
	}
	loaderRoute := map[string]bool{"POST /build": true, "GET /status/{id}": true}
	creds := map[string]struct {
		auth         func(*http.Request)
		loader, oper int // the answer on a loader route, on an admin route
	}{
		"no token":                 {nil, http.StatusUnauthorized, http.StatusUnauthorized},
		"unknown token":            {bearer("not-a-token"), http.StatusUnauthorized, http.StatusUnauthorized},
		"a hash sent as the token": {bearer(handlers.HashToken(loaderToken)), http.StatusUnauthorized, http.StatusUnauthorized},
		"loader token":             {bearer(loaderToken), passed, http.StatusForbidden},
		"plain api.tokens entry":   {bearer(legacyToken), passed, http.StatusForbidden},
		"admin token":              {bearer(adminToken), passed, passed},
		"admin browser login":      {basic("ops", adminToken), passed, passed},
		"browser login, wrong":     {basic("ops", loaderToken+"x"), http.StatusUnauthorized, http.StatusUnauthorized},
		"other scheme":             {func(r *http.Request) { r.Header.Set("Authorization", "token "+adminToken) }, http.StatusUnauthorized, http.StatusUnauthorized},
	}
	for route, rt := range routes {
		for name, c := range creds {
			t.Run(route+"/"+name, func(t *testing.T) {
				want := c.oper
				if loaderRoute[route] {
					want = c.loader
				}
				resp := call(t, rt.method, rt.url, rt.body, c.auth)
				if want == passed {
					require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}, resp.StatusCode)
					return
				}
				require.Equal(t, want, resp.StatusCode)
				if want == http.StatusUnauthorized {
					challenges := resp.Header.Values("WWW-Authenticate")
					require.Contains(t, challenges, `Bearer realm="driverbuild"`)
					if !loaderRoute[route] {
						require.Contains(t, strings.Join(challenges, " "), "Basic", "a browser must be asked to log in")
					}
				}
			})
		}
	}

	t.Run("a loader token builds, and the audit names its client", func(t *testing.T) {
		resp := call(t, http.MethodPost, env.ServiceURL+"/build", request("6.8.0-1060-gcp"), bearer(loaderToken))
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		var page buildapi.Requests
		require.Eventually(t, func() bool { // written in batches, within handlers.AuditFlushEvery
			resp = call(t, http.MethodGet, env.ServiceURL+"/api/requests?kernel=6.8.0-1060-gcp", "", bearer(adminToken))
			page = buildapi.Requests{}
			return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&page) == nil && len(page.Requests) > 0
		}, 5*time.Second, 10*time.Millisecond)
		require.Len(t, page.Requests, 1)
		require.Equal(t, "fleet", page.Requests[0].Client)
		resp = call(t, http.MethodGet, env.ServiceURL+"/api/requests?client=ops", "", bearer(adminToken))
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		require.NotEmpty(t, page.Requests, "the admin posted builds above")
		for _, r := range page.Requests {
			require.Equal(t, "ops", r.Client)
			require.NotEqual(t, "6.8.0-1060-gcp", r.KernelVersion)
		}
	})
	t.Run("the webhook needs no token", func(t *testing.T) {
		resp := call(t, http.MethodPost, env.ServiceURL+"/api/github/hook", "{}", nil)
		require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode)
	})
	t.Run("probes and metrics need no token", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			require.Equal(t, http.StatusOK, call(t, http.MethodGet, env.ServiceURL+p, "", nil).StatusCode, p)
		}
	})
}

// With api.allow_anonymous loaders need no token, but the operators'
// routes still do; -dev asks for none.
func TestAccessWithoutClients(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{})
	require.Equal(t, http.StatusAccepted, call(t, http.MethodPost, env.ServiceURL+"/build", request("6.8.0-1053-gcp"), nil).StatusCode)
	require.Equal(t, http.StatusAccepted, call(t, http.MethodPost, env.ServiceURL+"/build", request("6.8.0-1054-gcp"), bearer("anything")).StatusCode)
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, env.ServiceURL+"/api/builds", "", nil).StatusCode)

	dev := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) { c.Dev = true }})
	resp := call(t, http.MethodGet, dev.ServiceURL+"/api/builds", "", nil)
	require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode)
}

// Limits are per token: one client over its limit slows no other, and
// hears when to come back.
func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
		withClients(c)
		c.API.RateLimit = handlers.RateLimit{PerSecond: 1.0 / 60, Burst: 3, Per: "token"}
	}})
	status := env.ServiceURL + "/status/00000000-0000-4000-8000-000000000000"
	for range 3 {
		require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, status, "", bearer(loaderToken)).StatusCode)
	}
	resp := call(t, http.MethodGet, status, "", bearer(loaderToken))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "60", resp.Header.Get("Retry-After"))
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, status, "", bearer(legacyToken)).StatusCode,
		"another token from the same address has its own budget")
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, status, "", bearer("wrong")).StatusCode,
		"an unknown token is refused before it is counted")
}

func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
		withClients(c)
		c.API.RateLimit = handlers.RateLimit{PerSecond: 1.0 / 60, Burst: 2, Per: "ip"}
	}})
	status := env.ServiceURL + "/status/00000000-0000-4000-8000-000000000000"
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, status, "", bearer(loaderToken)).StatusCode)
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, status, "", bearer(legacyToken)).StatusCode)
	resp := call(t, http.MethodGet, status, "", bearer(adminToken))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "one address shares one budget")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestAccessConfigIsChecked(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		configure func(*app.Config)
		want      string
	}{
		"bad role": {func(c *app.Config) {
			c.API.Clients = []handlers.Client{{Name: "x", Role: "root", SHA256: handlers.HashToken("t")}}
		}, `api.clients[0].role "root": accepted are loader and admin`},
		"plain token": {func(c *app.Config) { c.API.Clients = []handlers.Client{{Name: "x", Role: "loader", SHA256: "t"}} }, "api.clients[0].sha256 must be the 64 hex digits"},
		"no name": {func(c *app.Config) {
			c.API.Clients = []handlers.Client{{Role: "admin", SHA256: handlers.HashToken("t")}}
		}, "api.clients[0].name is empty"},
		"same token":   {func(c *app.Config) { withClients(c); c.API.Clients[1].SHA256 = handlers.HashToken(loaderToken) }, "api.clients[1].sha256 is another client's token"},
		"zero rate":    {func(c *app.Config) { c.API.RateLimit.PerSecond = 0 }, "api.rate_limit.per_second must be a positive number"},
		"rate per who": {func(c *app.Config) { c.API.RateLimit.Per = "user" }, `api.rate_limit.per "user": accepted are token and ip`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := app.Defaults()
			cfg.Dev = true
			cfg.GitHub.App.IntegrationID = 1
			cfg.GitHub.App.PrivateKey = "-----BEGIN RSA PRIVATE KEY-----"
			tc.configure(&cfg)
			require.ErrorContains(t, cfg.Validate(), tc.want)
		})
	}
}
