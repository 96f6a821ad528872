package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the statements kept prepared: ours are a few dozen,
// plus one per row count of a batched audit insert.
const maxStmts = 512

// stmts keeps statements prepared on the database's one connection:
// SQLite takes longer to parse and plan most of our queries than to run
// them. database/sql prepares a statement anew for every query; with
// these it does so once. A statement first met inside a transaction, when
// the connection is taken, is prepared after that transaction ends.
type stmts struct {
	db     *sql.DB
	mu     sync.Mutex
	ready  map[string]*sql.Stmt
	wanted map[string]bool
}

func newStmts(db *sql.DB) *stmts {
	return &stmts{db: db, ready: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns the prepared statement of query, preparing it if it can:
// outside a transaction, and while fewer than maxStmts are kept. nil
// means the query runs unprepared.
func (s *stmts) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	s.mu.Lock()
	st, full := s.ready[query], len(s.ready) >= maxStmts
	if st == nil && inTx && !full {
		s.wanted[query] = true
	}
	s.mu.Unlock()
	if st != nil || inTx || full {
		return st
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself will say what is wrong
	}
	return s.keep(query, st)
}

// keep stores st for query, unless another caller stored one first.
func (s *stmts) keep(query string, st *sql.Stmt) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if had := s.ready[query]; had != nil {
		_ = st.Close()
		return had
	}
	s.ready[query] = st
	delete(s.wanted, query)
	return st
}

// prepareWanted prepares the statements transactions met unprepared; it
// runs when the connection is free again.
func (s *stmts) prepareWanted(ctx context.Context) {
	s.mu.Lock()
	var queries []string
	for q := range s.wanted {
		queries = append(queries, q)
	}
	clear(s.wanted)
	s.mu.Unlock()
	for _, q := range queries {
		if st, err := s.db.PrepareContext(context.WithoutCancel(ctx), q); err == nil {
			s.keep(q, st)
		}
	}
}

// close closes every statement kept.
func (s *stmts) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.ready {
		_ = st.Close()
	}
	clear(s.ready)
}
