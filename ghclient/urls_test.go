package ghclient_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
)

func TestURLsRoundTrip(t *testing.T) {
	t.Parallel()
	for web, api := range map[string]string{
		"https://github.com/":          "https://api.github.com/",
		"https://ghe.example.com/":     "https://ghe.example.com/api/v3/",
		"http://127.0.0.1:9000/":       "http://127.0.0.1:9000/api/v3/",
		"https://example.com/git/ghe/": "https://example.com/git/ghe/api/v3/",
	} {
		require.Equal(t, api, ghclient.APIURLFor(web), web)
		require.Equal(t, web, ghclient.WebURLFor(api), api)
	}
	require.Equal(t, "https://api.github.com/", ghclient.APIURLFor("https://www.github.com/"))
	require.Empty(t, ghclient.WebURLFor("https://proxy.example.com/github/"), "a REST root it cannot tell")
	require.Empty(t, ghclient.WebURLFor("not a URL"))
}
