package ghclient

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-github/v66/github"
)

// Release is a release and the id its assets are listed by.
type Release struct {
	ID  int64
	Tag string
}

// Releases lists the published releases of the repository. Drafts are
// left out: their assets cannot be downloaded without credentials.
func (c *Client) Releases(ctx context.Context) ([]Release, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return nil, err
	}
	var out []Release
	opts := &github.ListOptions{PerPage: 100}
	for {
		rs, resp, err := gh.Repositories.ListReleases(ctx, c.repo.Owner, c.repo.Name, opts)
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		for _, r := range rs {
			if !r.GetDraft() {
				out = append(out, Release{ID: r.GetID(), Tag: r.GetTagName()})
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Asset is one release asset. go-github v66 lacks the digest GitHub added
// in 2025, so assets are decoded here.
type Asset struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	Label              string `json:"label"`
	State              string `json:"state"`
	Size               int64  `json:"size"`
	Digest             string `json:"digest"`
	BrowserDownloadURL string `json:"browser_download_url"`
}

// Assets lists a release's assets. With the ETag of the last listing it
// makes a conditional request: GitHub answers 304 when nothing changed,
// which does not count against the rate limit, and then notModified is true
// and assets nil. Only a listing that fits in one page gets an ETag back:
// a page's ETag says nothing of the pages after it, where new assets land.
func (c *Client) Assets(ctx context.Context, releaseID int64, etag string) (assets []Asset, newETag string, notModified bool, err error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return nil, "", false, err
	}
	const perPage = 100
	for page := 1; page != 0; {
		u := fmt.Sprintf("repos/%s/%s/releases/%d/assets?per_page=%d&page=%d", c.repo.Owner, c.repo.Name, releaseID, perPage, page)
		req, err := gh.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, "", false, fmt.Errorf("assets request: %w", err)
		}
		if page == 1 && etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		var batch []Asset
		resp, err := gh.Do(ctx, req, &batch)
		if resp != nil && resp.StatusCode == http.StatusNotModified {
			return nil, etag, true, nil
		}
		if err != nil {
			return nil, "", false, fmt.Errorf("list assets of release %d: %w", releaseID, err)
		}
		// A full first page is not trusted either: the next asset goes
		// to a second page, and this one's ETag stays as it is.
		if page == 1 && resp.NextPage == 0 && len(batch) < perPage {
			newETag = resp.Header.Get("ETag")
		}
		assets = append(assets, batch...)
		page = resp.NextPage
	}
	return assets, newETag, false, nil
}
