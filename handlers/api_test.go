package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store/storetest"
)

// apiServer serves the REST API over a fresh store; no GitHub call is
// expected.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	st := storetest.SQLite(t)
	svc := builds.New(builds.Config{
		Catalog: kernel.DefaultCatalog(), Naming: kernel.DefaultNaming(), Workflow: "driver-build.yml",
		Cooldown: time.Minute, Timeout: time.Hour,
	}, st, noGitHub{t})
	access, err := handlers.NewAccess(handlers.AccessConfig{Anonymous: true, RateLimit: handlers.DefaultRateLimit()})
	require.NoError(t, err)
	mux := http.NewServeMux()
	(&handlers.API{Builder: svc, Store: st, Access: access, Metrics: handlers.NewMetrics(), Now: time.Now}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// A body is read one way only: the build dispatched is the one a log or a
// proxy reading the body would see, so keys that another JSON reader could
// take differently (twice, or in another case) are refused by name.
func TestBuildBodyIsReadOneWay(t *testing.T) {
	t.Parallel()
	srv := apiServer(t)
	const rest = `"architecture":"x86_64","distribution":"ubuntu","driver_version":"v0.1.2"`
	for name, tc := range map[string]struct {
		body        string
		field, says string
	}{
		"array":                 {`[1]`, "", "must be a JSON object"},
		"string":                {`"x"`, "", "must be a JSON object"},
		"number":                {`123`, "", "must be a JSON object"},
		"null":                  {`null`, "", "must be a JSON object"},
		"key twice":             {`{"kernel_version":"6.8.0-1-gcp",` + rest + `,"kernel_version":"6.8.0-2-gcp"}`, "kernel_version", "more than once"},
		"key twice, same":       {`{"driver_version":"v0.1.2","driver_version":"v0.1.2"}`, "driver_version", "more than once"},
		"case variant":          {`{"kernel_version":"6.8.0-1-gcp",` + rest + `,"Kernel_Version":"6.8.0-2-gcp"}`, "Kernel_Version", `"kernel_version"`},
		"case variant alone":    {`{"KERNEL_VERSION":"6.8.0-1-gcp",` + rest + `}`, "KERNEL_VERSION", "case"},
		"kelvin sign variant":   {`{"\u212aernel_version":"6.8.0-2-gcp","kernel_version":"6.8.0-1-gcp",` + rest + `}`, "\u212aernel_version", `"kernel_version"`},
		"object for string":     {`{"kernel_version":{"a":"b"}}`, "kernel_version", "must be a JSON string"},
		"array for string":      {`{"distribution":["ubuntu"]}`, "distribution", "must be a JSON string"},
		"unknown field":         {`{"evil":"x"}`, "evil", "unknown field"},
		"unknown field clipped": {`{"` + strings.Repeat("e", 10000) + `":"x"}`, strings.Repeat("e", 256), "unknown field"},
		"truncated":             {`{"kernel_version":"6.8.0-1-gcp",`, "", "JSON"},
		"trailing object":       {`{"kernel_version":"6.8.0-1-gcp"}{}`, "", "trailing data"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(srv.URL+"/build", "application/json", strings.NewReader(tc.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			var e buildapi.Error
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			require.Equal(t, tc.field, e.Field)
			require.Contains(t, e.Error, tc.says)
			require.NotContains(t, e.Error, strings.Repeat("e", 300), "a key is echoed clipped")
		})
	}
}
