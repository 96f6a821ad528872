package matrix

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/riptides/driverbuild/kernel"
)

// ReadExisting reads the asset names a release holds: one per line, or a
// JSON array of names.
func ReadExisting(r io.Reader) (map[string]bool, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("[")) {
		var list []string
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("existing assets: %w; accepted are a JSON array of names or one name per line", err)
		}
		for _, n := range list {
			names[n] = true
		}
		return names, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); n != "" {
			names[n] = true
		}
	}
	return names, sc.Err()
}

// ExistingAssets lists the asset names a driver version's releases hold:
// its own release and every shard (kernel.ReleaseTags). A missing own
// release is an error: the builds upload to it or its shards, so every
// one of them would fail. A missing shard is one no build has needed yet.
func ExistingAssets(ctx context.Context, gh *github.Client, owner, repo, driverVersion string) (map[string]bool, error) {
	names := map[string]bool{}
	for i, tag := range kernel.ReleaseTags(driverVersion) {
		rel, _, err := gh.Repositories.GetReleaseByTag(ctx, owner, repo, tag)
		switch {
		case isNotFound(err) && i > 0:
			continue
		case isNotFound(err):
			// GitHub says 404 for a missing repository too: tell them apart.
			if _, _, err := gh.Repositories.Get(ctx, owner, repo); err != nil {
				return nil, fmt.Errorf("repository %s/%s: %w", owner, repo, err)
			}
			return nil, fmt.Errorf("%s/%s has no release %s: publish it first, the builds upload their packages to it", owner, repo, tag)
		case err != nil:
			return nil, fmt.Errorf("release %s of %s/%s: %w", tag, owner, repo, err)
		}
		if err := listAssets(ctx, gh, owner, repo, rel, names); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func listAssets(ctx context.Context, gh *github.Client, owner, repo string, rel *github.RepositoryRelease, names map[string]bool) error {
	opts := &github.ListOptions{PerPage: 100}
	for {
		assets, resp, err := gh.Repositories.ListReleaseAssets(ctx, owner, repo, rel.GetID(), opts)
		if err != nil {
			return fmt.Errorf("assets of release %s of %s/%s: %w", rel.GetTagName(), owner, repo, err)
		}
		for _, a := range assets {
			names[a.GetName()] = true
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

func isNotFound(err error) bool {
	var ghErr *github.ErrorResponse
	return errors.As(err, &ghErr) && ghErr.Response != nil && ghErr.Response.StatusCode == http.StatusNotFound
}
