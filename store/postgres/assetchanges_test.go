package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/storetest"
)

// Two replicas on one database: what one commits to a release's assets,
// the other hears of, with the release's tag; what one rolls back, nobody
// hears of.
func TestAssetChangesAcrossReplicas(t *testing.T) {
	t.Parallel()
	dbURL, schema := storetest.PostgresSchema(t)
	open := func() store.Store {
		s, err := postgres.Open(t.Context(), dbURL, postgres.WithSchema(schema))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}
	writer, reader := open(), open()
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- reader.AssetChanges(ctx, func(tag string) { heard <- tag }) }()
	next := func() string {
		t.Helper()
		select {
		case tag := <-heard:
			return tag
		case <-time.After(10 * time.Second):
			t.Fatal("no asset change heard")
			return ""
		}
	}
	require.Empty(t, next(), "listening starts with: anything may have changed")

	rolledBack := errors.New("rolled back")
	err := writer.InTx(t.Context(), func(tx store.Tx) error {
		require.NoError(t, tx.AssetUpsert(t.Context(), store.Asset{Tag: "v0.0.1", Name: "a.deb"}))
		return rolledBack
	})
	require.ErrorIs(t, err, rolledBack)
	require.NoError(t, writer.AssetUpsert(t.Context(), store.Asset{Tag: "v0.1.2", Name: "a.deb"}))
	require.Equal(t, "v0.1.2", next(), "the rolled-back write is not heard of")
	_, err = writer.AssetsReplace(t.Context(), "v0.1.3", nil, time.Now())
	require.NoError(t, err)
	require.Equal(t, "v0.1.3", next())
	require.NoError(t, writer.ReleaseDelete(t.Context(), "v0.1.2"))
	require.Equal(t, "v0.1.2", next())

	cancel()
	require.NoError(t, <-done)
}
