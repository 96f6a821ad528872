package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
)

func testReleaseAssetCounts(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	counts, err := s.ReleaseAssetCounts(ctx)
	require.NoError(t, err)
	require.Empty(t, counts)

	for _, tag := range []string{"v0.2.0", "v0.2.0+shard.1", "v0.2.0+shard.2"} {
		require.NoError(t, s.ReleaseUpsert(ctx, store.Release{Tag: tag, ReleaseID: 1}))
	}
	asset := func(tag, name string) store.Asset {
		return store.Asset{Tag: tag, Name: name, AssetID: 1, DownloadURL: "https://example.com/" + name, UpdatedAt: at(1)}
	}
	_, err = s.AssetsReplace(ctx, "v0.2.0+shard.1", []store.Asset{
		asset("", "a.deb"), asset("", "a.deb.sha256"), asset("", "b.rpm"),
	}, at(2))
	require.NoError(t, err)
	require.NoError(t, s.AssetUpsert(ctx, asset("v0.2.0+shard.2", "c.deb")))
	require.NoError(t, s.AssetUpsert(ctx, asset("v9.9.9", "orphan.deb")), "assets alone make no release")
	counts, err = s.ReleaseAssetCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"v0.2.0": 0, "v0.2.0+shard.1": 3, "v0.2.0+shard.2": 1}, counts)

	require.NoError(t, s.ReleaseDelete(ctx, "v0.2.0+shard.1"))
	counts, err = s.ReleaseAssetCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"v0.2.0": 0, "v0.2.0+shard.2": 1}, counts)
}
