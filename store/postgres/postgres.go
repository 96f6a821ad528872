// Package postgres is the store on Postgres, for production and for more
// than one replica.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/riptides/driverbuild/migrations"
	"github.com/riptides/driverbuild/store"
)

// Store is a store.Store on a Postgres connection pool.
type Store struct {
	queries
	pool   *pgxpool.Pool
	schema string
	jobs   atomic.Pointer[river.Client[pgx.Tx]]
}

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
	return &Store{queries: queries{db: pool}, pool: pool, schema: o.schema}, nil
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

// InTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(store.Tx) error) error {
	pgTx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer pgTx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := fn(&tx{queries: queries{db: pgTx}, tx: pgTx, jobs: s.jobs.Load()}); err != nil {
		return err
	}
	if err := pgTx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NewJobs creates the River client on this database, in the store's schema
// when it has one. A later call replaces the client, as a service
// restarted in-process does once the old one has stopped.
func (s *Store) NewJobs(cfg *river.Config) (store.Jobs, error) {
	if s.schema != "" {
		c := *cfg
		c.Schema = s.schema
		cfg = &c
	}
	client, err := river.NewClient(riverpgxv5.New(s.pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	s.jobs.Store(client)
	return client, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool. Stop the Jobs client first.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

type tx struct {
	queries
	tx   pgx.Tx
	jobs *river.Client[pgx.Tx]
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

// dbErr maps Postgres's errors to the store's, the one place that knows both.
func dbErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}
