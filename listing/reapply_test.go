package listing_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/listing"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// reapplyGitHub is a default branch at head "main-2" and pull request
// branches whose heads sit on "main-1": every one is behind.
type reapplyGitHub struct {
	landGitHub
	onHead map[string]bool // heads that sit on "main-2" already
	mu     sync.Mutex
	forced []string
}

func (g *reapplyGitHub) BranchHead(_ context.Context, name string) (string, bool, error) {
	if name == "main" {
		return "main-2", true, nil
	}
	return "", false, errUnused
}
func (g *reapplyGitHub) File(context.Context, string, string) ([]byte, string, error) {
	return []byte("{}\n"), "blob", nil
}
func (g *reapplyGitHub) Parent(_ context.Context, head string) (string, error) {
	if g.onHead[head] {
		return "main-2", nil
	}
	return "main-1", nil
}
func (g *reapplyGitHub) CommitFile(_ context.Context, parent, _ string, _ []byte, _ string) (string, error) {
	return "on-" + parent, nil
}
func (g *reapplyGitHub) ForceBranch(_ context.Context, name, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forced = append(g.forced, name)
	return nil
}

// A merge leaves every other open pull request behind, and only one of
// them merges next: a push to the default branch re-applies the oldest
// few, not all of them, so that a storm of new kernels costs pushes and
// check runs in proportion to the kernels, not to their square.
func TestReapplyTakesTheOldestFew(t *testing.T) {
	t.Parallel()
	// The three oldest were re-applied at the last push already: they
	// take no turn, and two of the others do.
	r := newReapply(t, 3)
	require.NoError(t, r.s.Reapply(t.Context()))
	assert.Equal(t, sorted(r.branches[3:5]), r.forced(), "the two oldest behind are re-applied, the rest wait their turn")
}

// Old pull requests whose checks never report stay behind after every
// re-apply: half of each push's turns go to the branches that went
// longest without one, so the younger pull requests are re-applied too,
// and the oldest still get turns of their own.
func TestReapplyTurnsReachTheYounger(t *testing.T) {
	t.Parallel()
	r := newReapply(t, 0)
	require.NoError(t, r.s.Reapply(t.Context()))
	require.Equal(t, sorted(r.branches[:2]), r.forced(), "the two oldest")

	// None merged: the next push finds all thirty behind.
	require.NoError(t, r.s.Reapply(t.Context()))
	assert.Equal(t, sorted(r.branches[:1], r.branches[2:3]), r.forced(), "the oldest, and the one that waited longest")
}

// The oldest half of the turns goes to the oldest branches that are
// behind, not to the oldest whatever they are: those on the head take no
// turn of it.
func TestReapplyOldestTurnsAreTheOldestBehind(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := newReapply(t, 3)
	// 3-10 changed lately: the others went longer without a change.
	for i := 3; i <= 10; i++ {
		l, err := r.st.ListingByBuild(ctx, fmt.Sprintf("b%02d", i))
		require.NoError(t, err)
		l.UpdatedAt = l.CreatedAt.Add(time.Hour)
		require.NoError(t, r.st.ListingPut(ctx, l))
	}
	require.NoError(t, r.s.Reapply(ctx))
	assert.Equal(t, sorted(r.branches[3:4], r.branches[11:12]), r.forced(), "the oldest behind, and the one that went longest without a change")
}

// reapply is a listing service on thirty open pull requests, the oldest
// few of them on the head of the default branch.
type reapply struct {
	s        *listing.Service
	st       store.Store
	gh       *reapplyGitHub
	branches []string // oldest first
}

func newReapply(t *testing.T, onHead int) reapply {
	t.Helper()
	st := storetest.SQLite(t)
	gh := &reapplyGitHub{onHead: map[string]bool{}}
	for i := range onHead {
		gh.onHead[fmt.Sprintf("head-%d", i)] = true
	}
	// An hour after the pull requests were opened, whenever the test runs.
	now := func() time.Time { return openedAt.Add(time.Hour) }
	s := listing.New(listing.Config{Enabled: true, Catalog: kernel.DefaultCatalog(), Base: "main", Path: ".github/kernels.json", MergeMethod: "squash", Now: now}, st, gh, passing{})
	return reapply{s: s, st: st, gh: gh, branches: openPRs(t, st, 30)}
}

// forced are the branches re-applied since the last call, sorted.
func (r reapply) forced() []string {
	r.gh.mu.Lock()
	defer r.gh.mu.Unlock()
	out := sorted(r.gh.forced)
	r.gh.forced = nil
	return out
}

func sorted(lists ...[]string) []string {
	out := slices.Concat(lists...)
	slices.Sort(out)
	return out
}

// openedAt is when openPRs opens the first pull request.
var openedAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// openPRs stores n done builds with open pull requests, a second apart,
// the i-th at head "head-i", and returns their branches, oldest first.
func openPRs(t *testing.T, st store.Store, n int) []string {
	t.Helper()
	ctx := t.Context()
	var branches []string
	for i := range n {
		req := kernel.Request{KernelVersion: fmt.Sprintf("6.8.0-%d-gcp", 1000+i), Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
		at := openedAt.Add(time.Duration(i) * time.Second)
		b, _, err := st.BuildCreate(ctx, store.BuildCreateParams{ID: fmt.Sprintf("b%02d", i), CacheKey: req.CacheKey(), Request: req, Package: "p.deb", Now: at})
		require.NoError(t, err)
		_, _, err = st.BuildTransition(ctx, lifecycle.Transition{ID: b.ID, To: lifecycle.StatusDone, Source: lifecycle.SourceWebhook, Now: at})
		require.NoError(t, err)
		branch := listing.BranchFor(req)
		branches = append(branches, branch)
		require.NoError(t, st.ListingPut(ctx, store.Listing{BuildID: b.ID, Branch: branch, State: store.ListingPROpen, PRNumber: i + 1, HeadSHA: fmt.Sprintf("head-%d", i), CreatedAt: at, UpdatedAt: at}))
	}
	return branches
}
