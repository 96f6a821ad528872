package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// GitHubAPI finds release assets through GitHub's REST API. A private
// repository's browser download URLs do not take a token; the API does,
// and redirects the download to storage (which the token never reaches).
type GitHubAPI struct {
	URL   string // https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server
	Owner string
	Repo  string
}

// maxAssetPages bounds the listing: 100 assets a page.
const maxAssetPages = 100

type ghAsset struct {
	Name string `json:"name"`
	URL  string `json:"url"` // the API URL; with Accept: application/octet-stream it downloads
}

// locateAsset finds a package and its .sha256 among the assets of the
// release tagged tag: first in the release object, then page by page.
func (f *Fetcher) locateAsset(ctx context.Context, tag, name string) (location, error) {
	base := strings.TrimSuffix(f.API.URL, "/") + "/repos/" + url.PathEscape(f.API.Owner) + "/" + url.PathEscape(f.API.Repo) + "/releases"
	var release struct {
		ID     int64     `json:"id"`
		Assets []ghAsset `json:"assets"`
	}
	if err := f.getJSON(ctx, base+"/tags/"+url.PathEscape(tag), &release); err != nil {
		return location{}, fmt.Errorf("release %s: %w", tag, err)
	}
	loc, found := match(location{}, release.Assets, name)
	for page := 1; !found && page <= maxAssetPages; page++ {
		var assets []ghAsset
		if err := f.getJSON(ctx, fmt.Sprintf("%s/%d/assets?per_page=100&page=%d", base, release.ID, page), &assets); err != nil {
			return location{}, fmt.Errorf("release %s assets: %w", tag, err)
		}
		loc, found = match(loc, assets, name)
		if len(assets) < 100 {
			break
		}
	}
	if !found {
		return location{}, fmt.Errorf("%w: release %s has no asset %s", ErrNotFound, tag, name)
	}
	return loc, nil
}

// match records the package's and its digest's URLs; found once the
// package is seen (a digest listed on a later page may still be missed,
// which only means asking elsewhere for the digest).
func match(loc location, assets []ghAsset, name string) (location, bool) {
	for _, a := range assets {
		switch a.Name {
		case name:
			loc.pkg = a.URL
		case name + ".sha256":
			loc.sum = a.URL
		}
	}
	return loc, loc.pkg != ""
}

func (f *Fetcher) getJSON(ctx context.Context, u string, v any) error {
	var buf bytes.Buffer
	_, err := retry(ctx, f.Backoff, func() (struct{}, error) {
		buf.Reset()
		return struct{}{}, f.get(ctx, u, "application/vnd.github+json", &buf, 16<<20)
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		return errors.Join(fmt.Errorf("GET %s: not the JSON expected", u), err)
	}
	return nil
}
