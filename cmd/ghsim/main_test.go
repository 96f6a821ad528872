package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()

	cfg, opts, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", opts.listen)
	require.Equal(t, "http://127.0.0.1:8080/api/github/hook", cfg.WebhookURL)
	require.Equal(t, "riptides", cfg.Owner)
	require.Equal(t, "driver", cfg.Repo)
	require.Equal(t, 20*time.Second, cfg.BuildDuration)
	require.Empty(t, cfg.Releases)
	require.Nil(t, cfg.FailKernels)
	require.False(t, cfg.RejectRunDetails)
	require.Empty(t, opts.writeConfig)

	cfg, opts, err = parseFlags([]string{
		"-listen", ":9100", "-webhook-url", "", "-repo", "acme/drv", "-releases", "v0.1.0, v0.1.2,",
		"-build-duration", "2s", "-fail-kernels", `^5\.`, "-reject-run-details", "-write-config", "c.yml",
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, ":9100", opts.listen)
	require.Empty(t, cfg.WebhookURL)
	require.Equal(t, "acme", cfg.Owner)
	require.Equal(t, "drv", cfg.Repo)
	require.Equal(t, []string{"v0.1.0", "v0.1.2"}, cfg.Releases)
	require.Equal(t, 2*time.Second, cfg.BuildDuration)
	require.True(t, cfg.FailKernels.MatchString("5.4.0-1"))
	require.True(t, cfg.RejectRunDetails)
	require.Equal(t, "c.yml", opts.writeConfig)
}

func TestParseFlagsRejects(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"repo without owner": {"-repo", "driver"},
		"repo too deep":      {"-repo", "a/b/c"},
		"bad regexp":         {"-fail-kernels", "("},
		"zero duration":      {"-build-duration", "0s"},
		"unknown flag":       {"-nope"},
		"stray argument":     {"serve"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := parseFlags(args, io.Discard)
			require.Error(t, err)
		})
	}
}
