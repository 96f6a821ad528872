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
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/riptides/driverbuild/migrations"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/internal/sqlstore"
)

// Store is a store.Store on one SQLite file.
//
// It has a single connection, as River's SQLite driver asks, so SQLite never
// answers "database is locked" to ourselves. The price: a function given to
// InTx must use only the Tx it gets; touching the Store in there waits
// forever for the connection the transaction holds.
type Store = sqlstore.Store[*sql.Tx]

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
	prepared := newStmts(db)
	return sqlstore.NewStore(sqlstore.Engine[*sql.Tx]{
		Dialect: &dialect,
		DB:      conn{db: db, stmts: prepared},
		Begin: func(ctx context.Context, fn func(*sql.Tx, sqlstore.Conn) error) error {
			return inTx(ctx, db, prepared, fn)
		},
		River: riversqlite.New(db),
		Name:  "sqlite",
		Ping:  db.PingContext,
		Close: func() error { prepared.close(); return db.Close() },
	}), nil
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

// inTx runs fn in one transaction, committed when fn returns nil, then
// prepares the statements it met unprepared.
func inTx(ctx context.Context, db *sql.DB, prepared *stmts, fn func(*sql.Tx, sqlstore.Conn) error) error {
	defer prepared.prepareWanted(ctx)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx, conn{db: tx, tx: tx, stmts: prepared}); err != nil {
		return err
	}
	return tx.Commit()
}

// dialect: every transaction begins IMMEDIATE, holding the database's only
// write lock, so neither rows nor keys need a lock of their own.
var dialect = sqlstore.Dialect{
	ByteOrder: `COLLATE BINARY`,
	// SQLite looks a $n up among the statement's others, which costs the
	// square of their count in an INSERT of many rows; ? is bound by place.
	Anonymous: true,
	Time:      func(t time.Time) any { return t.UTC().Format(sqlstore.TimeLayout) },
	Conflict: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
}

// conn is a sqlstore.Conn on the database or a transaction (tx set).
type conn struct {
	db interface { // what *sql.DB and *sql.Tx share
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
	tx    *sql.Tx
	stmts *stmts
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	var rows *sql.Rows
	var err error
	switch st := c.stmts.get(ctx, query, c.tx != nil); {
	case st == nil:
		rows, err = c.db.QueryContext(ctx, query, args...)
	case c.tx != nil:
		rows, err = c.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	default:
		rows, err = st.QueryContext(ctx, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows closes as pgx's rows do: a failed read reports its own error.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
