package appsetup_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/appsetup"
	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/handlers"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// startSim runs a ghsim that knows of no webhook receiver yet: the App
// created through it says where its webhooks go.
func startSim(t *testing.T) *ghsim.Server {
	t.Helper()
	sim, err := ghsim.New(ghsim.Config{Releases: ghsim.DefaultReleases, BuildDuration: 300 * time.Millisecond})
	require.NoError(t, err)
	sim.Start(listen(t))
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

type setupRun struct {
	page string // the page the person opens
	done chan error
	app  appsetup.App
}

func startSetup(t *testing.T, sim *ghsim.Server, o appsetup.Options) *setupRun {
	t.Helper()
	ln := listen(t)
	o.WebURL, o.APIURL, o.Listener, o.Out = sim.URL()+"/", sim.URL()+"/api/v3/", ln, io.Discard
	if o.Name == "" {
		o.Name = "driverbuild-test"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &setupRun{page: "http://" + ln.Addr().String() + "/", done: make(chan error, 1)}
	go func() {
		a, err := appsetup.Run(ctx, o)
		s.app = a
		s.done <- err
	}()
	t.Cleanup(cancel)
	return s
}

// form reads the page's form as a browser would: where it posts, and
// its fields.
func form(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	resp, err := http.Get(page)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	doc, err := html.Parse(resp.Body)
	require.NoError(t, err)
	var action string
	fields := url.Values{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				require.Equal(t, "post", attrs["method"])
				action = attrs["action"]
			case "input":
				fields.Set(attrs["name"], attrs["value"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	require.NotEmpty(t, action, "the page has no form")
	return action, fields
}

// The whole flow against ghsim: the page posts the manifest, ghsim sends
// the browser back with a code, setup trades it and writes config.yml,
// and a service started from that file builds, moved by the webhooks the
// App sends where its manifest said.
func TestSetupCreatesAWorkingApp(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	serviceLn := listen(t)
	serviceURL := "http://" + serviceLn.Addr().String()
	configPath := filepath.Join(t.TempDir(), "config.yml")
	s := startSetup(t, sim, appsetup.Options{ServiceURL: serviceURL, ConfigPath: configPath})

	action, fields := form(t, s.page)
	require.True(t, strings.HasPrefix(action, sim.URL()+"/settings/apps/new?state="), action)
	resp, err := http.PostForm(action, fields) // follows GitHub's redirect back to setup
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), sim.URL()+"/apps/driverbuild-sim/installations/new")
	require.NoError(t, <-s.done)
	require.Equal(t, sim.AppID(), s.app.ID)

	fi, err := os.Stat(configPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "config.yml holds the App's key")
	written, err := os.ReadFile(configPath)
	require.NoError(t, err)
	require.Contains(t, string(written), "# The App's id, from its settings page.", "the example's comments are kept")
	require.Contains(t, string(written), "web_url: "+sim.URL()+"/", "written, not only derived when read")

	cfg, err := app.LoadConfig(configPath)
	require.NoError(t, err)
	require.Equal(t, sim.AppID(), cfg.GitHub.App.IntegrationID)
	require.Equal(t, string(sim.PrivateKeyPEM()), cfg.GitHub.App.PrivateKey)
	require.Equal(t, sim.WebhookSecret(), cfg.GitHub.App.WebhookSecret)
	require.Equal(t, sim.URL()+"/api/v3/", cfg.GitHub.V3APIURL)
	require.Equal(t, sim.URL()+"/", cfg.GitHub.WebURL, "downloads are confirmed on the App's GitHub")

	cfg.DataDir = t.TempDir()
	cfg.Builds.PollInterval = time.Hour // only webhooks can finish the build
	cfg.API.Clients = []handlers.Client{{Name: "fleet", Role: handlers.RoleLoader, SHA256: handlers.HashToken("fleet-token")}}
	log := zerolog.New(zerolog.NewTestWriter(t))
	svc, err := app.Start(log.WithContext(context.Background()), cfg, app.Deps{Listener: serviceLn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })

	req, err := http.NewRequest(http.MethodPost, serviceURL+"/build", strings.NewReader(
		`{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer fleet-token")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var accepted buildapi.Accepted
	require.NoError(t, decode(resp, &accepted))
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, serviceURL+"/status/"+accepted.BuildID, nil)
		req.Header.Set("Authorization", "Bearer fleet-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		var b buildapi.Build
		return decode(resp, &b) == nil && b.Status == "done"
	}, 30*time.Second, 50*time.Millisecond)
}

func TestSetupRefusesAForeignCallback(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	s := startSetup(t, sim, appsetup.Options{ServiceURL: "https://driverbuild.example.com", ConfigPath: filepath.Join(t.TempDir(), "config.yml")})
	form(t, s.page) // setup is serving
	resp, err := http.Get(strings.TrimSuffix(s.page, "/") + "/callback?code=abc&state=forged")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	select {
	case err := <-s.done:
		t.Fatalf("setup ended on a forged callback: %v", err)
	default:
	}
}

func TestSetupInAnOrganization(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	configPath := filepath.Join(t.TempDir(), "config.yml")
	// An existing config keeps its keys.
	require.NoError(t, os.WriteFile(configPath, []byte("# ours\nrepository:\n  owner: riptides\n  name: driver\n  ref: release # the branch\n"), 0o644))
	s := startSetup(t, sim, appsetup.Options{ServiceURL: "https://driverbuild.example.com", Org: "riptides", ConfigPath: configPath})
	action, fields := form(t, s.page)
	require.True(t, strings.HasPrefix(action, sim.URL()+"/organizations/riptides/settings/apps/new?state="), action)
	resp, err := http.PostForm(action, fields)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, <-s.done)

	written, err := os.ReadFile(configPath)
	require.NoError(t, err)
	require.Contains(t, string(written), "ref: release # the branch")
	cfg, err := app.LoadConfig(configPath)
	require.NoError(t, err)
	require.Equal(t, "release", cfg.Repository.Ref)
	require.Equal(t, sim.WebhookSecret(), cfg.GitHub.App.WebhookSecret)
}

// The manifest asks for what the issue lists, and subscribes to every
// event a handler handles.
func TestManifest(t *testing.T) {
	t.Parallel()
	m := appsetup.NewManifest("driverbuild", "https://driverbuild.example.com", "http://127.0.0.1:8000/callback")
	require.Equal(t, map[string]string{"actions": "write", "contents": "write", "pull_requests": "write", "checks": "read",
		"statuses": "read", "administration": "read", "metadata": "read"}, m.DefaultPermissions)
	require.ElementsMatch(t, []string{"workflow_run", "workflow_job", "release", "push", "pull_request", "check_suite", "check_run", "status"}, m.DefaultEvents)
	require.Subset(t, m.DefaultEvents, handlers.Events())
	require.Equal(t, "https://driverbuild.example.com/api/github/hook", m.HookAttributes.URL)
	require.True(t, m.HookAttributes.Active)
}

func TestTokenHash(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"test\n":   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"test":     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"test\r\n": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	} {
		got, err := appsetup.TokenHash(strings.NewReader(in))
		require.NoError(t, err)
		require.Equal(t, want, got, "%q", in)
	}
	_, err := appsetup.TokenHash(strings.NewReader("\n"))
	require.ErrorContains(t, err, "no token on standard input")
	_, err = appsetup.TokenHash(strings.NewReader(" test\n"))
	require.ErrorContains(t, err, "white space")
}

func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
