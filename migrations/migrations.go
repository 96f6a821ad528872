// Package migrations holds the build-service's SQL schema, one directory of
// goose migrations per dialect, and applies it.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a database flavour; it is also the directory of its migrations.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Up applies every pending migration of the dialect to db.
func Up(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := NewProvider(ctx, db, d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", d, err)
	}
	return nil
}

// NewProvider returns a goose provider for the dialect's migrations on db,
// for Up and for tools that need more (status, down).
//
// On Postgres the provider holds a session advisory lock while it migrates,
// so replicas starting together take turns. The lock is keyed by the current
// schema: stores in different schemas of one database do not wait for each
// other.
func NewProvider(ctx context.Context, db *sql.DB, d Dialect) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	var dialect goose.Dialect
	switch d {
	case Postgres:
		dialect = goose.DialectPostgres
		id, err := lockID(ctx, db)
		if err != nil {
			return nil, err
		}
		// Retry every second rather than goose's default five: most waits
		// are for a replica finishing migrations that take milliseconds.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		dialect = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("unknown dialect %q", d)
	}
	fsys, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", d, err)
	}
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migration provider: %w", err)
	}
	return p, nil
}

// lockID derives the advisory lock id from the schema the migrations go to.
func lockID(ctx context.Context, db *sql.DB) (int64, error) {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("current schema: %w", err)
	}
	if !schema.Valid {
		return 0, errors.New("current schema: no schema on the search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("driverbuild migrations " + schema.String))
	return int64(h.Sum64()), nil
}
