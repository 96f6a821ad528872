package migrations

import (
	"context"
	"crypto/rand"
	"database/sql"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

func TestDialectsHaveTheSameVersions(t *testing.T) {
	t.Parallel()
	versions := func(d Dialect) []int64 {
		names, err := fs.Glob(files, string(d)+"/*.sql")
		require.NoError(t, err)
		var vs []int64
		for _, name := range names {
			v, err := goose.NumericComponent(name)
			require.NoError(t, err, name)
			vs = append(vs, v)
		}
		return vs
	}
	pg := versions(Postgres)
	require.NotEmpty(t, pg)
	require.Equal(t, pg, versions(SQLite))
}

func TestUpDownUp(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) (*sql.DB, Dialect){
		"sqlite":   openSQLite,
		"postgres": openPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, d := open(t)
			p, err := NewProvider(ctx, db, d)
			require.NoError(t, err)

			_, err = p.Up(ctx)
			require.NoError(t, err)
			_, err = p.DownTo(ctx, 0)
			require.NoError(t, err)
			_, err = p.Up(ctx)
			require.NoError(t, err)

			current, target, err := p.GetVersions(ctx)
			require.NoError(t, err)
			require.Equal(t, target, current)
		})
	}
}

func TestUpRefusesMissingSchema(t *testing.T) {
	t.Parallel()
	db := openPostgresSchema(t, "no_such_schema_"+strings.ToLower(rand.Text()))
	require.ErrorContains(t, Up(t.Context(), db, Postgres), "no schema")
}

func openSQLite(t *testing.T) (*sql.DB, Dialect) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/test.db")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db, SQLite
}

// openPostgres returns a connection to a fresh schema, dropped after the test.
func openPostgres(t *testing.T) (*sql.DB, Dialect) {
	schema := "test_" + strings.ToLower(rand.Text())
	admin := openPostgresSchema(t, "public")
	_, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		require.NoError(t, err)
	})
	return openPostgresSchema(t, schema), Postgres
}

func openPostgresSchema(t *testing.T, schema string) *sql.DB {
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// TestViewsHaveTheSameColumns: docs/audit.md documents one set of columns
// for the audit views of both dialects.
func TestViewsHaveTheSameColumns(t *testing.T) {
	t.Parallel()
	columns := func(t *testing.T, open func(t *testing.T) (*sql.DB, Dialect), view string) []string {
		db, d := open(t)
		require.NoError(t, Up(t.Context(), db, d))
		rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+view+" LIMIT 0")
		require.NoError(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		return cols
	}
	for _, view := range []string{"audit_build_timeline", "audit_requests"} {
		t.Run(view, func(t *testing.T) {
			t.Parallel()
			pg := columns(t, openPostgres, view)
			require.NotEmpty(t, pg)
			require.Equal(t, pg, columns(t, openSQLite, view))
		})
	}
}
