package main

import (
	"context"
	"net"
	"net/http"
	"os"
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
