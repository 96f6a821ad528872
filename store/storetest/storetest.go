// Package storetest is the conformance suite every store implementation must
// pass, and the helpers that give other packages' tests a real store.
package storetest

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/sqlite"
)

// SQLite returns a store on a fresh database file, closed when the test ends.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "driverbuild.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// Postgres returns a store in a fresh schema of the database at
// TEST_DATABASE_URL, dropped when the test ends. Without that variable the
// test is skipped, or fails when CI is set: CI must not pass by skipping.
func Postgres(t testing.TB) store.Store {
	t.Helper()
	url, schema := PostgresSchema(t)
	s, err := postgres.Open(t.Context(), url, postgres.WithSchema(schema))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// PostgresSchema returns TEST_DATABASE_URL and the name of a fresh schema in
// that database, dropped when the test ends, for tests that open the store
// themselves. It skips or fails as Postgres does.
func PostgresSchema(t testing.TB) (url, schema string) {
	t.Helper()
	url = os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	admin, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	schema = "test_" + strings.ToLower(rand.Text())
	_, err = admin.Exec(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		_, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		require.NoError(t, err)
		require.NoError(t, admin.Close(ctx))
	})
	return url, schema
}

// Each runs fn once per implementation, as the subtests "sqlite" and
// "postgres", with open making a fresh store of that kind.
func Each(t *testing.T, fn func(t *testing.T, open func(t testing.TB) store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres) })
}
