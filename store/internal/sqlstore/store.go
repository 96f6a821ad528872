package sqlstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/riptides/driverbuild/store"
)

// Engine is what a database engine gives the store, T being its
// transaction.
type Engine[T any] struct {
	Dialect *Dialect
	DB      Conn // outside transactions
	// Begin runs fn in a transaction, committed when fn returns nil.
	Begin func(ctx context.Context, fn func(T, Conn) error) error
	River riverdriver.Driver[T]
	// Schema is River's, "" for the connection's default.
	Schema string
	Name   string // for errors
	Ping   func(context.Context) error
	Close  func() error
	// Listen runs AssetChanges; nil where Dialect.Notify is empty.
	Listen func(ctx context.Context, changed func(tag string)) error
}

// Store is a store.Store on an engine.
type Store[T any] struct {
	Queries
	e    Engine[T]
	jobs atomic.Pointer[river.Client[T]]
}

// NewStore returns the store on the engine.
func NewStore[T any](e Engine[T]) *Store[T] {
	s := &Store[T]{e: e}
	s.Queries = Queries{c: e.DB, d: e.Dialect, begin: func(ctx context.Context, fn func(Conn) error) error {
		return e.Begin(ctx, func(_ T, c Conn) error { return fn(c) })
	}}
	return s
}

// InTx runs fn in one transaction, committed when fn returns nil.
func (s *Store[T]) InTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.e.Dialect.unavailable(s.e.Begin(ctx, func(tx T, c Conn) error {
		return fn(&dbTx[T]{Queries: Queries{c: c, d: s.e.Dialect}, tx: tx, jobs: s.jobs.Load()})
	}))
}

// NewJobs creates the River client on this database, in the engine's
// schema when it has one. A later call replaces the client, as a service
// restarted in-process does once the old one has stopped.
func (s *Store[T]) NewJobs(cfg *river.Config) (store.Jobs, error) {
	if s.e.Schema != "" {
		c := *cfg
		c.Schema = s.e.Schema
		cfg = &c
	}
	client, err := river.NewClient(s.e.River, cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	s.jobs.Store(client)
	return client, nil
}

// Ping checks that the database answers.
func (s *Store[T]) AssetChanges(ctx context.Context, changed func(tag string)) error {
	if s.e.Listen == nil {
		changed("")
		<-ctx.Done()
		return nil
	}
	return s.e.Listen(ctx, changed)
}

func (s *Store[T]) Ping(ctx context.Context) error {
	if err := s.e.Ping(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.e.Name, err)
	}
	return nil
}

// Close closes the database. Stop the Jobs client first.
func (s *Store[T]) Close() error {
	if err := s.e.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.e.Name, err)
	}
	return nil
}

type dbTx[T any] struct {
	Queries
	tx   T
	jobs *river.Client[T]
}

// InsertJob enqueues a job that exists only if the transaction commits.
func (t *dbTx[T]) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if t.jobs == nil {
		return fmt.Errorf("insert job %s: %w", args.Kind(), store.ErrNoJobs)
	}
	if _, err := t.jobs.InsertTx(ctx, t.tx, args, opts); err != nil {
		return fmt.Errorf("insert job %s: %w", args.Kind(), err)
	}
	return nil
}
