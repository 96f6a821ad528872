// Package postgres is the store on Postgres, for production and for more
// than one replica.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/migrations"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/internal/sqlstore"
)

// Store is a store.Store on a Postgres connection pool.
type Store = sqlstore.Store[pgx.Tx]

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	schema string
}

// WithSchema keeps our tables and River's in the named schema, which must
// exist, instead of the database's default search_path. Tests use it to
// isolate themselves; so can several deployments sharing a database.
func WithSchema(name string) Option {
	return func(o *options) { o.schema = name }
}

// schemaName is stricter than Postgres: an unquoted identifier that case
// folding cannot change, safe to put in search_path and River's queries.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Open connects to the database at url (a postgres:// URL or key=value DSN)
// and brings our schema and River's up to date.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// A database that went away must fail a request in seconds, not hang
	// it on a dial that never completes; the URL's connect_timeout wins.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	if o.schema != "" {
		if !schemaName.MatchString(o.schema) {
			return nil, fmt.Errorf("open postgres: schema %q: want lower-case letters, digits and underscores", o.schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = o.schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := migrate(ctx, pool, o.schema); err != nil {
		pool.Close()
		return nil, err
	}
	return sqlstore.NewStore(sqlstore.Engine[pgx.Tx]{
		Dialect: &dialect,
		DB:      conn{pool},
		Begin: func(ctx context.Context, fn func(pgx.Tx, sqlstore.Conn) error) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return fn(tx, conn{tx}) })
		},
		River:  riverpgxv5.New(pool),
		Schema: o.schema,
		Name:   "postgres",
		Ping:   pool.Ping,
		Close:  func() error { pool.Close(); return nil },
		Listen: func(ctx context.Context, changed func(string)) error { return listen(ctx, pool, changed) },
	}), nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		return err
	}
	if err := migrateRiver(ctx, pool, schema); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// migrateRiver applies River's pending migrations one per transaction, each
// transaction holding an advisory lock: rivermigrate takes no lock of its
// own, and replicas may start together. The lock comes before the read of
// the applied versions, so every version is applied once.
//
// River migrates on the connection of the transaction that holds the lock,
// not on others of the pool, so a pool of one (pool_max_conns=1) cannot
// deadlock. Each migration commits before the next one runs, as Migrate
// does: MigrateTx is deprecated because one transaction for all of them
// fails where a migration uses an enum value an earlier one added (River's
// 006 uses the 'pending' that 004 adds).
func migrateRiver(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		return err
	}
	for {
		applied := 0
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "driverbuild river migrations "+schema); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{MaxSteps: 1}) //nolint:staticcheck // one step per transaction, see above
			if err != nil {
				return err
			}
			applied = len(res.Versions)
			return nil
		})
		if err != nil || applied == 0 {
			return err
		}
	}
}

var dialect = sqlstore.Dialect{
	ForUpdate: ` FOR UPDATE`,
	LockKey:   `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
	// Byte order, as SQLite sorts, not the database's locale.
	ByteOrder: `COLLATE "C"`,
	// Truncated explicitly to the microseconds Postgres keeps, so what is
	// written is exactly what comes back.
	Time: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond) },
	Conflict: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	},
	Unavailable: func(err error) bool {
		var e *pgconn.PgError
		if errors.As(err, &e) {
			// connection_exception, and the server shutting down or starting up
			return strings.HasPrefix(e.Code, "08") || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
		}
		var connect *pgconn.ConnectError
		var netErr net.Error
		return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
			errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	},
	// The time now, not the transaction's start.
	Clock: `SELECT clock_timestamp()`,
	// Delivered at commit, to every listening session, this one's too.
	Notify: `SELECT pg_notify('` + assetsChannel + `' || current_schema(), $1)`,
}

// assetsChannel, followed by the schema, carries the tags of releases
// whose assets changed: a channel is the database's, and deployments (or
// tests) in other schemas must not hear of each other's.
const assetsChannel = "driverbuild_assets_"

// listen holds a connection of its own in LISTEN until ctx ends (not one
// of the pool, which is small: four on two cores), reconnecting after a
// second when the connection is lost; each time it listens anew, it says
// that anything may have changed.
func listen(ctx context.Context, pool *pgxpool.Pool, changed func(string)) error {
	for ctx.Err() == nil {
		err := func() error {
			c, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
			if err != nil {
				return err
			}
			defer c.Close(context.WithoutCancel(ctx))
			var schema string
			if err := c.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
				return err
			}
			if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{assetsChannel + schema}.Sanitize()); err != nil {
				return err
			}
			changed("")
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				changed(n.Payload)
			}
		}()
		if ctx.Err() != nil {
			return nil
		}
		zerolog.Ctx(ctx).Warn().Err(err).Msg("listening for asset changes; retrying")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// conn is a sqlstore.Conn on the pool or a transaction.
type conn struct {
	db interface { // what *pgxpool.Pool and pgx.Tx share
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (c conn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return c.db.Query(ctx, sql, args...)
}
