// Package sqlstore implements the store once, for both engines: each query
// is one SQL text that Postgres and SQLite both run, and the few places
// where they differ are a field of Dialect. An engine gives it an Engine:
// its Dialect, Conns on its pool and transactions, and River's driver.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riptides/driverbuild/store"
)

// Conn is an engine's pool or transaction. Statements use $n
// placeholders, which both engines read.
type Conn interface {
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Rows is what pgx.Rows and *sql.Rows (behind a Close without a result)
// both are.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what the engines do differently.
type Dialect struct {
	// ForUpdate ends a SELECT that reads a row to write it back, LockKey
	// locks the text $1 until the transaction ends; both are empty where a
	// transaction holds the only write lock already.
	ForUpdate, LockKey string
	// ByteOrder is the COLLATE clause that sorts text by its bytes, as
	// sort.Strings does.
	ByteOrder string
	// Time is how a time is written. Reading takes what either engine
	// gives back (see timeCol).
	Time func(time.Time) any
	// Conflict reports whether err is a unique violation.
	Conflict func(error) bool
	// Unavailable reports whether err says the database could not be
	// reached or went away, rather than that it refused the statement;
	// nil where that cannot happen.
	Unavailable func(error) bool
	// Anonymous says the engine takes ? placeholders, bound in order, for
	// the long statements that are written by code (RequestsRecord).
	Anonymous bool
	// Clock reads the database's time; empty where one process alone
	// writes, whose clock it is.
	Clock string
	// Notify tells other processes, when the transaction commits, that
	// the assets of release $1 changed; empty where there are none.
	Notify string
}

// Queries implements store.Queries on a Conn.
type Queries struct {
	c Conn
	d *Dialect
	// begin runs fn in a transaction; nil in a transaction.
	begin func(ctx context.Context, fn func(Conn) error) error
}

// atomic runs fn so that its writes happen together or not at all: in a
// transaction of its own, or in a savepoint of the caller's, so that a
// failed step leaves nothing in a transaction the caller goes on to commit
// (and, on Postgres, does not abort it).
func (q Queries) atomic(ctx context.Context, fn func(Queries) error) error {
	if q.begin != nil {
		return q.begin(ctx, func(c Conn) error { return fn(Queries{c: c, d: q.d}) })
	}
	if err := q.exec(ctx, "SAVEPOINT store_op"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(q); err != nil {
		// ROLLBACK TO keeps the savepoint open; RELEASE ends it.
		ctx := context.WithoutCancel(ctx)
		_ = q.exec(ctx, "ROLLBACK TO store_op")
		_ = q.exec(ctx, "RELEASE store_op")
		return err
	}
	if err := q.exec(ctx, "RELEASE store_op"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// all runs a query and reads every row it returns.
func all[T any](ctx context.Context, q Queries, read func(Rows) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.c.Query(ctx, sql, q.encode(args)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := read(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// one runs a query and reads its first row, store.ErrNotFound if there is
// none.
func one[T any](ctx context.Context, q Queries, read func(Rows) (T, error), sql string, args ...any) (v T, err error) {
	vs, err := all(ctx, q, read, sql, args...)
	if err == nil && len(vs) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return v, err
	}
	return vs[0], nil
}

// exec runs a statement that returns no rows.
func (q Queries) exec(ctx context.Context, sql string, args ...any) error {
	_, err := all(ctx, q, func(Rows) (struct{}, error) { return struct{}{}, nil }, sql, args...)
	return err
}

// encode writes the times among args as the engine stores them.
func (q Queries) encode(args []any) []any {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = q.d.Time(t)
		}
	}
	return args
}

// nullTime stores the zero time, "not yet", as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// wrap names what failed, once, in the store's terms.
func (q Queries) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if q.d.Conflict(err) {
		err = fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	err = q.d.unavailable(err)
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// timeCol scans a timestamp column into t, in UTC: a time from Postgres,
// text from SQLite. NULL is the zero time.
type timeCol struct{ t *time.Time }

// TimeLayout is UTC at one fixed width, so that SQLite compares and sorts
// the text as it would the times. Microseconds are what Postgres keeps too.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

func (s timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case string:
		t, err := time.Parse(TimeLayout, v)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		*s.t = t
	default:
		return fmt.Errorf("timestamp: unexpected %T", src)
	}
	return nil
}

// unavailable marks err with store.ErrUnavailable when it says so.
func (d *Dialect) unavailable(err error) error {
	if err == nil || d.Unavailable == nil || errors.Is(err, store.ErrUnavailable) || !d.Unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}
