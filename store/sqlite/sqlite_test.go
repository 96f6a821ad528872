package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/sqlite"
	"github.com/riptides/driverbuild/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.SQLite)
}

func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state", "driverbuild.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.ReleaseUpsert(ctx, store.Release{Tag: "v0.1.2", ReleaseID: 1}))
	require.FileExists(t, path+"-wal", "the database is in WAL mode")
	require.NoError(t, s.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err, "migrations find nothing left to do")
	defer s.Close()
	_, err = s.ReleaseByTag(ctx, "v0.1.2")
	require.NoError(t, err)
}
