package ghclient

import (
	"net/url"
	"strings"
)

// APIURLFor is the REST root of the GitHub at webURL: api.github.com for
// github.com, /api/v3/ on a GitHub Enterprise Server.
func APIURLFor(webURL string) string {
	u, err := url.Parse(webURL)
	if err != nil || u.Host == "github.com" || u.Host == "www.github.com" {
		return "https://api.github.com/"
	}
	return strings.TrimSuffix(webURL, "/") + "/api/v3/"
}

// WebURLFor is the web root that goes with a REST root, APIURLFor's
// inverse: github.com's for api.github.com, https://HOST/ for GitHub
// Enterprise Server's https://HOST/api/v3/, and "" for one it cannot tell
// (packages are then confirmed from the release's listing alone), so
// that an Enterprise config written before web_url existed never asks
// github.com.
func WebURLFor(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return ""
	}
	switch {
	case u.Host == "api.github.com":
		return "https://github.com/"
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3"):
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3") + "/"
		return u.String()
	}
	return ""
}
