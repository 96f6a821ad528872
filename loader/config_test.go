package loader_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader"
	"github.com/riptides/driverbuild/loader/fetch"
)

func TestGitHubAPI(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		mod  func(*loader.Config)
		want *fetch.GitHubAPI
	}{
		"no token": {func(*loader.Config) {}, nil},
		"github.com release": {
			func(c *loader.Config) { c.GitHubToken = "t"; c.Repository = "acme/drv" },
			&fetch.GitHubAPI{URL: "https://api.github.com", Owner: "acme", Repo: "drv"},
		},
		"enterprise": {
			func(c *loader.Config) {
				c.GitHubToken, c.Repository = "t", "acme/drv"
				c.ReleaseURL, c.GitHubAPIURL = "https://ghe.example.com/acme/drv/releases/download", "https://ghe.example.com/api/v3"
			},
			&fetch.GitHubAPI{URL: "https://ghe.example.com/api/v3", Owner: "acme", Repo: "drv"},
		},
		"a mirror takes the token itself": {
			func(c *loader.Config) { c.GitHubToken, c.ReleaseURL = "t", "https://mirror.example.com/drv" },
			nil,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := loader.Defaults()
			c.DriverVersion = "v0.1.2"
			tc.mod(&c)
			require.NoError(t, c.Finish())
			require.Equal(t, tc.want, c.GitHubAPI())
		})
	}
}

func TestDownloadBoundsConfig(t *testing.T) {
	t.Parallel()
	c := loader.Defaults()
	require.Equal(t, fetch.DefaultMaxTime, c.DownloadTimeout)
	require.EqualValues(t, fetch.DefaultMinRate, c.DownloadMinRate)

	c.DriverVersion, c.DownloadTimeout, c.DownloadMinRate = "v0.1.2", 0, -1
	err := c.Finish()
	require.ErrorContains(t, err, "--download-timeout (download_timeout) 0s: must be positive")
	require.ErrorContains(t, err, "--download-min-rate (download_min_rate) -1: must be a positive number of bytes a second")
}
