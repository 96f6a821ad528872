// Package sqlite is the store on an embedded SQLite database file: the
// zero-setup default for a single instance, pure Go so static builds work.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/riptides/driverbuild/migrations"
	"github.com/riptides/driverbuild/store"
)

// Store is a store.Store on one SQLite file.
//
// It has a single connection, as River's SQLite driver asks, so SQLite never
// answers "database is locked" to ourselves. The price: a function given to
// InTx must use only the Tx it gets; touching the Store in there waits
// forever for the connection the transaction holds.
type Store struct {
	queries
	db   *sql.DB
	jobs atomic.Pointer[river.Client[*sql.Tx]]
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it and its directory if
// needed, and brings our schema and River's up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("open sqlite: path %q: must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	params := url.Values{
		"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
		// Take the write lock at BEGIN: a transaction that reads and then
		// writes cannot fail halfway on a lock upgrade.
		"_txlock": {"immediate"},
	}
	db, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{queries: queries{db: db, begin: db.BeginTx}, db: db}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		return err
	}
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// InTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(&tx{queries: queries{db: sqlTx}, tx: sqlTx, jobs: s.jobs.Load()}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NewJobs creates the River client on this database. A later call
// replaces the client, as a service restarted in-process does once the old
// one has stopped.
func (s *Store) NewJobs(cfg *river.Config) (store.Jobs, error) {
	client, err := river.NewClient(riversqlite.New(s.db), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	s.jobs.Store(client)
	return client, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database. Stop the Jobs client first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

type tx struct {
	queries
	tx   *sql.Tx
	jobs *river.Client[*sql.Tx]
}

// InsertJob enqueues a job that exists only if the transaction commits.
func (t *tx) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if t.jobs == nil {
		return fmt.Errorf("insert job %s: %w", args.Kind(), store.ErrNoJobs)
	}
	if _, err := t.jobs.InsertTx(ctx, t.tx, args, opts); err != nil {
		return fmt.Errorf("insert job %s: %w", args.Kind(), err)
	}
	return nil
}

// dbErr maps SQLite's errors to the store's, the one place that knows both.
func dbErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var e *sqlite.Error
	if errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}
