package builds_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/store"
)

// storeAfterListing stores an asset just before the first transaction, as
// another replica's confirmation of a build would while a refresh here
// has read its listing and not yet written it.
type storeAfterListing struct {
	store.Store
	once  sync.Once
	asset store.Asset
}

func (s *storeAfterListing) InTx(ctx context.Context, fn func(store.Tx) error) error {
	var err error
	s.once.Do(func() {
		s.asset.UpdatedAt = time.Now()
		err = s.AssetUpsert(ctx, s.asset)
	})
	if err != nil {
		return err
	}
	return s.Store.InTx(ctx, fn)
}

// A refresh replaces the index with GitHub's listing, but a package
// stored after the listing was read is newer than the listing, and stays.
// What was stored before and the listing lacks is gone from the release.
func TestRefreshKeepsWhatWasStoredAfterItsListing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := newOnSim(t, builds.Config{})
	const tag = "v0.2.0"
	deleted := store.Asset{Tag: tag, Name: "riptides-driver-ubuntu-6.8.0-1052-gcp_v0.2.0_amd64.deb", AssetID: 1,
		DownloadURL: "https://example.invalid/deleted.deb", UpdatedAt: time.Now().Add(-time.Hour)}
	require.NoError(t, env.st.AssetUpsert(ctx, deleted))
	st := &storeAfterListing{Store: env.st, asset: store.Asset{
		Tag: tag, Name: "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb", AssetID: 2,
		DownloadURL: "https://example.invalid/new.deb", DistroVersion: "24.04",
	}}
	svc, _ := serviceOn(env.sim.URL(), env.sim, st, builds.Config{})

	require.NoError(t, svc.RefreshAll(ctx))
	got, err := env.st.AssetByName(ctx, tag, st.asset.Name)
	require.NoError(t, err, "stored after the listing was read")
	require.EqualValues(t, 2, got.AssetID)
	_, err = env.st.AssetByName(ctx, tag, deleted.Name)
	require.ErrorIs(t, err, store.ErrNotFound, "stored before the listing, which lacks it")
	rel, err := env.st.ReleaseByTag(ctx, tag)
	require.NoError(t, err)
	require.Empty(t, rel.ETag, "the next refresh reads the release in full, and finds what was kept if it is gone")

	require.NoError(t, svc.RefreshAll(ctx))
	_, err = env.st.AssetByName(ctx, tag, st.asset.Name)
	require.ErrorIs(t, err, store.ErrNotFound, "kept for one listing: GitHub never held it")
	rel, err = env.st.ReleaseByTag(ctx, tag)
	require.NoError(t, err)
	require.NotEmpty(t, rel.ETag, "nothing kept: the next refresh asks if the listing changed")
}
