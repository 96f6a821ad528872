package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// The README's `go run ./cmd/build-service`, with the App in the
// environment, starts from a directory that holds a config.yml it was not
// told to read; -config names the file to read.
func TestConfigIsReadOnlyWhenNamed(t *testing.T) {
	sim, err := ghsim.New(ghsim.Config{Releases: []string{"v0.1.2"}})
	require.NoError(t, err)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(simLn)
	t.Cleanup(func() { _ = sim.Close() })
	c := sim.ServiceConfig()
	t.Setenv("GITHUB_V3_API_URL", c.GitHub.V3APIURL)
	t.Setenv("GITHUB_APP_INTEGRATION_ID", strconv.FormatInt(c.GitHub.App.IntegrationID, 10))
	t.Setenv("GITHUB_APP_WEBHOOK_SECRET", c.GitHub.App.WebhookSecret)
	t.Setenv("GITHUB_APP_PRIVATE_KEY", c.GitHub.App.PrivateKey)
	t.Setenv("DATABASE_URL", "") // the embedded store, in ./data
	t.Setenv("API_TOKENS", "a-loader-token")
	t.Chdir(t.TempDir())
	require.NoError(t, os.WriteFile("config.yml", []byte("not_a_key: 1\n"), 0o600))

	t.Run("without -config", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var logs strings.Builder
		go func() { done <- run(ctx, []string{"-listen", addr}, &strings.Builder{}, &logs) }()
		require.Eventually(t, func() bool {
			select {
			case err := <-done:
				done <- err
				return true
			default:
			}
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 20*time.Second, 50*time.Millisecond)
		cancel()
		require.NoError(t, <-done, "the service ran from the environment")
		require.DirExists(t, "data", "the embedded store under the default data_dir")
	})
	t.Run("with -config", func(t *testing.T) {
		err := run(context.Background(), []string{"-config", "config.yml", "-listen", "127.0.0.1:0"}, &strings.Builder{}, &strings.Builder{})
		require.ErrorContains(t, err, "config.yml")
		require.ErrorContains(t, err, "not_a_key")
	})
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, hashToken(nil, strings.NewReader("test\n"), &out))
	require.Equal(t, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n", out.String())
	require.ErrorContains(t, hashToken([]string{"test"}, strings.NewReader(""), &out), "reads the token on stdin")
	require.ErrorContains(t, hashToken(nil, strings.NewReader(""), &out), "no token on standard input")
}

func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"log format":      {run(ctx, []string{"-log-format", "xml"}, io.Discard, io.Discard), `-log-format "xml": accepted are auto, console and json`},
		"stray argument":  {run(ctx, []string{"serve"}, io.Discard, io.Discard), `unexpected arguments ["serve"]`},
		"setup needs url": {setup(ctx, nil, io.Discard, io.Discard), "setup: -url is required"},
		"setup bad url":   {setup(ctx, []string{"-url", "driverbuild.example.com"}, io.Discard, io.Discard), `service URL "driverbuild.example.com": want an http or https URL`},
		"setup bad name":  {setup(ctx, []string{"-url", "https://x.example.com", "-name", ""}, io.Discard, io.Discard), "the App name is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorContains(t, tc.err, tc.want)
		})
	}
}

// Logs to a pipe or a file, as under Kubernetes or systemd, are JSON.
func TestLogsAreJSONOffATerminal(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	log, err := logger(f, "auto")
	require.NoError(t, err)
	log.Info().Str("build_id", "b").Msg("hello")
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	var entry map[string]any
	require.NoError(t, json.Unmarshal(b, &entry), string(b))
	require.Equal(t, "hello", entry["message"])
	require.Equal(t, "b", entry["build_id"])
}
