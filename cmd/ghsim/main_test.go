package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riptides/driverbuild/ghsim"
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
	require.Equal(t, ghsim.DefaultReleases, cfg.Releases, "the releases -dev starts with, so the README's three commands work as written")
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

	cfg, _, err = parseFlags([]string{"-fail-checks", `^add-kernel/fedora/`, "-check-duration", "300ms", "-required-checks-in", "rulesets"}, io.Discard)
	require.NoError(t, err)
	require.True(t, cfg.FailChecks.MatchString("add-kernel/fedora/x86_64/6-15-5-200-fc42-x86_64"))
	require.False(t, cfg.FailChecks.MatchString("add-kernel/ubuntu/x86_64/6-8-0-40-generic"))
	require.Equal(t, 300*time.Millisecond, cfg.CheckDuration)
	require.Equal(t, "rulesets", cfg.RequiredChecksIn)

	kernels := filepath.Join(t.TempDir(), "kernels.json")
	require.NoError(t, os.WriteFile(kernels, []byte("{}\n"), 0o600))
	cfg, _, err = parseFlags([]string{"-kernels-json", kernels, "-placeholder-packages"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []byte("{}\n"), cfg.KernelsJSON)
	name, data, _, err := cfg.Artifact(map[string]string{
		"kernel_version": "6.8.0-1053-gcp", "architecture": "x86_64", "distribution": "ubuntu", "distro_version": "24.04", "driver_version": "v0.1.2",
	})
	require.NoError(t, err)
	require.Equal(t, "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb", name)
	require.Equal(t, "ghsim placeholder package "+name+"\n", string(data))

	cfg, _, err = parseFlags([]string{
		"-drop-webhooks", "0.1", "-duplicate-webhooks", "0.2", "-reorder-webhooks", "-delay-webhooks", "50ms",
		"-api-error-rate", "0.05", "-rate-limit", "100", "-secondary-limit-rate", "0.01", "-secondary-retry-after", "2s",
		"-dispatch-ambiguous", "0.3", "-seed", "7",
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, ghsim.Chaos{
		DropWebhooks: 0.1, DuplicateWebhooks: 0.2, ReorderWebhooks: true, DelayWebhooks: 50 * time.Millisecond,
		APIErrorRate: 0.05, SecondaryLimitRate: 0.01, SecondaryRetryAfter: 2 * time.Second, DispatchAmbiguous: 0.3, Seed: 7,
	}, cfg.Chaos)
	require.Equal(t, 100, cfg.RateLimit)

	cfg, _, err = parseFlags([]string{"-runner-command", "./build.sh --native"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "./build.sh --native", cfg.RunnerCommand)
}

func TestParseFlagsRejects(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"repo without owner":    {"-repo", "driver"},
		"repo too deep":         {"-repo", "a/b/c"},
		"bad regexp":            {"-fail-kernels", "("},
		"zero duration":         {"-build-duration", "0s"},
		"unknown flag":          {"-nope"},
		"stray argument":        {"serve"},
		"no kernels.json":       {"-kernels-json", "/nonexistent/kernels.json"},
		"bad fail-checks":       {"-fail-checks", "("},
		"no check duration":     {"-check-duration", "0s"},
		"probability above one": {"-drop-webhooks", "1.5"},
		"negative probability":  {"-api-error-rate", "-0.1"},
		"negative delay":        {"-delay-webhooks", "-1s"},
		"zero rate limit":       {"-rate-limit", "0"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := parseFlags(args, io.Discard)
			require.Error(t, err)
		})
	}
}
