package ghclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/riptides/driverbuild/kernel"
)

// downloadTimeout bounds one request to a release download URL.
const downloadTimeout = 10 * time.Second

// downloads asks release download URLs, which are public and cost no API
// rate limit. A HEAD does not follow redirects: github.com answers an
// asset that exists with a 302 to its storage, and that is answer enough.
var downloads = &http.Client{
	Timeout: downloadTimeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.Method == http.MethodHead {
			return http.ErrUseLastResponse
		}
		if len(via) >= 5 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		return nil
	},
}

// DownloadURL is where a release asset is downloaded from, as GitHub
// names it in browser_download_url; "" when the client has no web URL.
func (c *Client) DownloadURL(tag, name string) string {
	if c.repo.WebURL == "" {
		return ""
	}
	prefix := strings.TrimSuffix(c.repo.WebURL, "/") + "/" + url.PathEscape(c.repo.Owner) + "/" + url.PathEscape(c.repo.Name) + "/releases/download"
	return kernel.ReleaseURL(prefix, tag, name)
}

// Published looks for a package at its download URL, beside its .sha256,
// as a loader would: found when both answer, with the digest the .sha256
// holds ("sha256:<hex>"). It is two requests and no API call, so that a
// run's success is confirmed at once however full its release is; a
// repository whose downloads need credentials, or a package not there,
// is found=false, and the caller reads the release's listing instead.
// The workflow uploads the .sha256 before the package, so a package that
// answers has its own digest beside it.
func (c *Client) Published(ctx context.Context, tag, name string) (digest string, found bool, err error) {
	pkg := c.DownloadURL(tag, name)
	if pkg == "" {
		return "", false, nil
	}
	resp, err := c.download(ctx, http.MethodHead, pkg)
	if err != nil {
		return "", false, err
	}
	resp.Body.Close()
	if !present(resp.StatusCode) {
		return "", false, nil
	}
	resp, err = c.download(ctx, http.MethodGet, c.DownloadURL(tag, kernel.ChecksumName(name)))
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", kernel.ChecksumName(name), err)
	}
	sum, err := kernel.ParseChecksum(string(body), name)
	if err != nil {
		return "", false, err
	}
	return "sha256:" + sum, true, nil
}

func (c *Client) download(ctx context.Context, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("download request: %w", err)
	}
	req.Header.Set("User-Agent", "driverbuild")
	resp, err := downloads.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return resp, nil
}

// present says whether a download URL's answer means the asset is there.
func present(status int) bool {
	return status == http.StatusOK || status == http.StatusFound || status == http.StatusTemporaryRedirect
}
