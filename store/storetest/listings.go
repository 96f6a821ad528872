package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
)

// testListings runs on a store of its own: the unassigned listings ("")
// and ListingsUnsettled read the whole table.
func testListings(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	build := func(sec int) string { return mustCreate(t, s, createParams(at(sec))).ID }
	a, b, c, d := build(1), build(2), build(3), build(4)

	_, err := s.ListingByBuild(ctx, a)
	require.ErrorIs(t, err, store.ErrNotFound)

	branch := "add-kernel/ubuntu/x86_64/6-8-0-1021-gcp"
	put := func(id, branch string, state store.ListingState, sec int) store.Listing {
		l := store.Listing{BuildID: id, Branch: branch, State: state, CreatedAt: at(sec), UpdatedAt: at(sec)}
		require.NoError(t, s.ListingPut(ctx, l))
		return l
	}
	la := put(a, branch, store.ListingPending, 10)
	put(b, branch, store.ListingPending, 11)
	put(c, "", store.ListingPending, 12)
	put(d, "", store.ListingAlreadyListed, 13)
	got, err := s.ListingByBuild(ctx, a)
	require.NoError(t, err)
	require.Equal(t, la, got)

	of, err := s.ListingsOfBranch(ctx, branch)
	require.NoError(t, err)
	require.Equal(t, []string{a, b}, listingIDs(of))
	unassigned, err := s.ListingsOfBranch(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{c, d}, listingIDs(unassigned))

	unsettled, err := s.ListingsUnsettled(ctx, at(12), 10)
	require.NoError(t, err)
	require.Equal(t, []string{a, b}, listingIDs(unsettled), "created before the time, not already listed")
	unsettled, err = s.ListingsUnsettled(ctx, at(100), 1)
	require.NoError(t, err)
	require.Equal(t, []string{a}, listingIDs(unsettled), "oldest first, limited")

	// Setting a branch changes its rows only, and only the fields given.
	n, err := s.ListingsSet(ctx, store.ListingsUpdate{Branch: branch, State: store.ListingPROpen, PRNumber: 7, PRURL: "https://github.com/o/r/pull/7", HeadSHA: "abc", Now: odd})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = s.ListingsSet(ctx, store.ListingsUpdate{Branch: branch, HeadSHA: "def", Now: odd})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	got, err = s.ListingByBuild(ctx, b)
	require.NoError(t, err)
	require.Equal(t, store.Listing{BuildID: b, Branch: branch, State: store.ListingPROpen, PRNumber: 7, PRURL: "https://github.com/o/r/pull/7",
		HeadSHA: "def", CreatedAt: at(11), UpdatedAt: oddNormalized}, got)
	got, err = s.ListingByBuild(ctx, c)
	require.NoError(t, err)
	require.Equal(t, store.ListingPending, got.State)
	n, err = s.ListingsSet(ctx, store.ListingsUpdate{Branch: branch, State: store.ListingPROpen, PRNumber: 7, HeadSHA: "def", Now: at(99)})
	require.NoError(t, err)
	require.Zero(t, n, "nothing to change")
	got, err = s.ListingByBuild(ctx, b)
	require.NoError(t, err)
	require.Equal(t, oddNormalized, got.UpdatedAt, "when it last changed")

	// Sealing a batch moves the unassigned rows to its branch.
	n, err = s.ListingsSet(ctx, store.ListingsUpdate{Branch: "", ToBranch: "add-kernel/batch/" + c, Now: odd})
	require.NoError(t, err)
	require.Equal(t, 1, n, "an already listed build is final")
	unassigned, err = s.ListingsOfBranch(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{d}, listingIDs(unassigned))
	of, err = s.ListingsOfBranch(ctx, "add-kernel/batch/"+c)
	require.NoError(t, err)
	require.Equal(t, []string{c}, listingIDs(of))

	// A merged listing is final too.
	put(c, "add-kernel/batch/"+c, store.ListingMerged, 12)
	n, err = s.ListingsSet(ctx, store.ListingsUpdate{Branch: "add-kernel/batch/" + c, State: store.ListingPROpen, Now: odd})
	require.NoError(t, err)
	require.Zero(t, n)

	// Put replaces, and a bad state is refused.
	put(a, "", store.ListingAlreadyListed, 10)
	of, err = s.ListingsOfBranch(ctx, branch)
	require.NoError(t, err)
	require.Equal(t, []string{b}, listingIDs(of))
	require.Error(t, s.ListingPut(ctx, store.Listing{BuildID: a, State: "lost", CreatedAt: at(1), UpdatedAt: at(1)}))
	require.Error(t, s.ListingPut(ctx, store.Listing{BuildID: newID(), State: store.ListingPending, CreatedAt: at(1), UpdatedAt: at(1)}), "a listing is of a build")
}

func listingIDs(ls []store.Listing) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.BuildID)
	}
	return out
}
