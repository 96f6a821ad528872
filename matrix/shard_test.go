package matrix_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

// releasesServer is GitHub's release API for one repository: releases by
// tag, their assets 100 a page, 404 for any other tag.
type releasesServer struct {
	mu       sync.Mutex
	releases map[string][]string // tag -> asset names
	lookups  []string
}

func (s *releasesServer) client(t *testing.T) *github.Client {
	t.Helper()
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		tags := slices.Sorted(maps.Keys(s.releases)) // release i has id 100+i
		rest, ok := strings.CutPrefix(r.URL.Path, "/repos/acme/drivers/releases/")
		switch {
		case !ok || r.Method != http.MethodGet:
		case strings.HasPrefix(rest, "tags/"):
			tag := strings.TrimPrefix(rest, "tags/")
			s.lookups = append(s.lookups, tag)
			if i := slices.Index(tags, tag); i >= 0 {
				fmt.Fprintf(w, `{"id": %d, "tag_name": %q}`, 100+i, tag)
				return
			}
		case strings.HasSuffix(rest, "/assets"):
			id, _ := strconv.Atoi(strings.TrimSuffix(rest, "/assets"))
			if id < 100 || id-100 >= len(tags) {
				break
			}
			assets := s.releases[tags[id-100]]
			page := max(1, atoi(r.URL.Query().Get("page")))
			end := min(page*100, len(assets))
			if end < len(assets) {
				w.Header().Set("Link", fmt.Sprintf(`<%s/repos/acme/drivers/releases/%d/assets?per_page=100&page=%d>; rel="next"`, srvURL, id, page+1))
			}
			var parts []string
			for i, a := range assets[min((page-1)*100, end):end] {
				parts = append(parts, fmt.Sprintf(`{"id": %d, "name": %q}`, i, a))
			}
			fmt.Fprint(w, "["+strings.Join(parts, ",")+"]")
			return
		}
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	gh := github.NewClient(nil)
	gh.BaseURL, _ = url.Parse(srv.URL + "/")
	return gh
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// 1,200 kernels of a driver version with shards, each published in the
// shard kernel.ReleaseTag names (the first hundred in the plain release,
// published before it had shards): the diff reads every shard and finds
// nothing left to build; a shard nobody created yet is no error, and its
// kernels are built.
func TestExistingAssetsReadsEveryShard(t *testing.T) {
	t.Parallel()
	const dv = "v0.2.0"
	entries := fedoraKernels(1200)
	opts := options()
	opts.DriverVersion = dv
	srv := &releasesServer{releases: map[string][]string{}}
	perShard := map[string]int{}
	for i, e := range entries {
		r, err := opts.Catalog.Normalize(kernel.Request{KernelVersion: e.KernelRelease, Architecture: e.Arch, Distribution: "fedora", DriverVersion: dv})
		require.NoError(t, err)
		name, err := opts.Catalog.PackageName(opts.Naming, r)
		require.NoError(t, err)
		tag := kernel.ReleaseTag(dv, name)
		if i < 100 {
			tag = dv
		}
		perShard[tag]++
		srv.releases[tag] = append(srv.releases[tag], name, kernel.ChecksumName(name))
	}
	gh := srv.client(t)
	existing, err := matrix.ExistingAssets(context.Background(), gh, "acme", "drivers", dv)
	require.NoError(t, err)
	require.Len(t, existing, 2400)
	require.Equal(t, kernel.ReleaseTags(dv), srv.lookups, "the plain release and every shard")
	opts.Existing = existing
	res, err := matrix.Build(entries, nil, opts)
	require.NoError(t, err)
	require.Empty(t, res.Chunks, "nothing left to build")
	require.Equal(t, 1200, res.Built)

	missing := kernel.ShardTag(dv, 4)
	delete(srv.releases, missing)
	opts.Existing, err = matrix.ExistingAssets(context.Background(), gh, "acme", "drivers", dv)
	require.NoError(t, err)
	res, err = matrix.Build(entries, nil, opts)
	require.NoError(t, err)
	require.Len(t, res.Chunks, 1)
	require.Len(t, res.Chunks[0].Include, perShard[missing], "the kernels of the shard nobody created")
}
