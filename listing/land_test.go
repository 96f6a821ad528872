package listing_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/listing"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// landGitHub answers Pull with one pull request and records merges; the
// rest of the loop's calls fail.
type landGitHub struct {
	pull ghclient.PullRequest

	mu     sync.Mutex
	merged []string // the shas merged
}

var errUnused = errors.New("not used by this test")

func (g *landGitHub) File(context.Context, string, string) ([]byte, string, error) {
	return nil, "", errUnused
}
func (g *landGitHub) BranchHead(context.Context, string) (string, bool, error) {
	return "", false, errUnused
}
func (g *landGitHub) Parent(context.Context, string) (string, error) { return "", errUnused }
func (g *landGitHub) CommitFile(context.Context, string, string, []byte, string) (string, error) {
	return "", errUnused
}
func (g *landGitHub) CreateBranch(context.Context, string, string) error { return errUnused }
func (g *landGitHub) ForceBranch(context.Context, string, string) error  { return errUnused }
func (g *landGitHub) DeleteBranch(context.Context, string) error         { return errUnused }
func (g *landGitHub) OpenPull(context.Context, string, string, string, string) (ghclient.PullRequest, error) {
	return ghclient.PullRequest{}, errUnused
}
func (g *landGitHub) PullsOf(context.Context, string, string) ([]ghclient.PullRequest, error) {
	return []ghclient.PullRequest{g.pull}, nil
}
func (g *landGitHub) Pull(_ context.Context, n int) (ghclient.PullRequest, error) {
	if n != g.pull.Number {
		return ghclient.PullRequest{}, errUnused
	}
	return g.pull, nil
}
func (g *landGitHub) Merge(_ context.Context, _ int, sha, _, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.merged = append(g.merged, sha)
	return nil
}

// landStore holds one branch's listings.
type landStore struct {
	mu       sync.Mutex
	build    store.Build
	listings []store.Listing
}

func (s *landStore) BuildByID(context.Context, string) (store.Build, error) { return s.build, nil }
func (s *landStore) ListingPut(_ context.Context, l store.Listing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listings = []store.Listing{l}
	return nil
}
func (s *landStore) ListingByBuild(context.Context, string) (store.Listing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listings[0], nil
}
func (s *landStore) ListingsOfBranch(_ context.Context, branch string) ([]store.Listing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Listing
	for _, l := range s.listings {
		if l.Branch == branch {
			out = append(out, l)
		}
	}
	return out, nil
}
func (s *landStore) ListingsUnsettled(context.Context, time.Time, int) ([]store.Listing, error) {
	return nil, errUnused
}
func (s *landStore) ListingsSet(_ context.Context, u store.ListingsUpdate) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.listings {
		l := &s.listings[i]
		if u.State != "" {
			l.State = u.State
		}
		if u.PRNumber != 0 {
			l.PRNumber, l.PRURL = u.PRNumber, u.PRURL
		}
		if u.HeadSHA != "" {
			l.HeadSHA = u.HeadSHA
		}
	}
	return len(s.listings), nil
}
func (s *landStore) InTx(context.Context, func(store.Tx) error) error { return errUnused }

type passing struct{}

func (passing) Decide(context.Context, string, string) (listing.Verdict, error) {
	return listing.Verdict{Required: []string{"validate-kernels"}}, nil
}

// The App merges only the head it pushed. A pull request from a fork whose
// head branch has the same name as ours (its pull_request "opened" or
// "reopened" webhook noted its number on our listing) has passing checks
// of its own, run from the fork's own workflow: merging it would put a
// stranger's code on the default branch.
func TestLandMergesOnlyTheHeadItPushed(t *testing.T) {
	t.Parallel()
	req := kernel.Request{KernelVersion: "6.8.0-1021-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
	branch := listing.BranchFor(req)
	mergeable := true
	const ours = "0000000000000000000000000000000000000001"
	for name, tc := range map[string]struct {
		pushed, head string
		merges       bool
	}{
		"ours":     {pushed: ours, head: ours, merges: true},
		"a fork's": {pushed: ours, head: "00000000000000000000000000000000000000ff"},
		// What was pushed is not known yet: reconcile finds it first.
		"unknown": {pushed: "", head: "00000000000000000000000000000000000000ff"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gh := &landGitHub{pull: ghclient.PullRequest{
				Number: 2, State: "open", HeadRef: branch, BaseRef: "main", HeadSHA: tc.head,
				Mergeable: &mergeable, MergeableState: "clean",
			}}
			st := &landStore{build: store.Build{ID: "b1", Request: req}, listings: []store.Listing{{
				BuildID: "b1", Branch: branch, State: store.ListingPROpen, PRNumber: 2,
				HeadSHA: tc.pushed,
			}}}
			s := listing.New(listing.Config{Enabled: true, Catalog: kernel.DefaultCatalog(), Base: "main", Path: ".github/kernels.json", MergeMethod: "squash"}, st, gh, passing{})
			for _, sha := range []string{ours, ""} { // a check event of our head; reconcile
				_ = s.Land(t.Context(), branch, sha)
			}
			if tc.merges {
				require.NotEmpty(t, gh.merged)
			} else {
				require.Empty(t, gh.merged, "merged a head the service never pushed")
			}
			for _, sha := range gh.merged {
				require.Equal(t, ours, sha)
			}
		})
	}
}

type failing struct{}

func (failing) Decide(context.Context, string, string) (listing.Verdict, error) {
	return listing.Verdict{Required: []string{"validate-kernels"}, Failed: []string{"validate-kernels"}}, nil
}

// A push re-applies two branches; when one of them fails its check, the
// turn it took goes to the next branch behind at once, not at the next
// push or reconcile: with both failing, nothing would merge until then.
func TestFailedCheckGivesItsTurnAway(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	jobs, err := st.NewJobs(&river.Config{}) // inserts only
	require.NoError(t, err)
	branch := openPRs(t, st, 1)[0]
	mergeable := true
	gh := &landGitHub{pull: ghclient.PullRequest{
		Number: 1, State: "open", HeadRef: branch, BaseRef: "main", HeadSHA: "head-0",
		Mergeable: &mergeable, MergeableState: "clean",
	}}
	s := listing.New(listing.Config{Enabled: true, Catalog: kernel.DefaultCatalog(), Base: "main", Path: ".github/kernels.json", MergeMethod: "squash"}, st, gh, failing{})
	reapplies := func() int {
		res, err := jobs.(interface {
			JobList(context.Context, *river.JobListParams) (*river.JobListResult, error)
		}).JobList(t.Context(), river.NewJobListParams().Kinds(listing.ReapplyArgs{}.Kind()))
		require.NoError(t, err)
		return len(res.Jobs)
	}

	require.NoError(t, s.Land(t.Context(), branch, "head-0"))
	l, err := st.ListingByBuild(t.Context(), "b00")
	require.NoError(t, err)
	require.Equal(t, store.ListingChecksFailed, l.State)
	require.Equal(t, 1, reapplies(), "the next branch behind is re-applied")
	require.Empty(t, gh.merged)

	require.NoError(t, s.Land(t.Context(), branch, "head-0"))
	require.Equal(t, 1, reapplies(), "one, however many of its events come")
}
