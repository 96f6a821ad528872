package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store/internal/sqlstore"
)

func count(t *testing.T, c sqlstore.Conn, query string, args ...any) int {
	t.Helper()
	rows, err := c.Query(t.Context(), query, args...)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next(), "no row")
	var n int
	require.NoError(t, rows.Scan(&n))
	return n
}

func TestStatementsArePreparedOnce(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE t (n INTEGER)`)
	require.NoError(t, err)
	prepared := newStmts(db)
	t.Cleanup(prepared.close)
	outside := conn{db: db, stmts: prepared}
	inTx := func(fn func(c conn)) {
		require.NoError(t, inTxPrepared(t.Context(), db, prepared, fn))
	}

	const insert, countAll = `INSERT INTO t (n) VALUES ($1) RETURNING n`, `SELECT COUNT(*) FROM t WHERE n >= $1`
	inTx(func(c conn) { count(t, c, insert, 1) })
	assert.Contains(t, prepared.ready, insert, "a statement met in a transaction is prepared after it")
	inTx(func(c conn) { count(t, c, insert, 2) }) // prepared, bound to the transaction

	assert.Equal(t, 2, count(t, outside, countAll, 0))
	st := prepared.ready[countAll]
	require.NotNil(t, st, "prepared at its first use outside a transaction")
	assert.Equal(t, 1, count(t, outside, countAll, 2), "arguments are bound anew each time")
	assert.Same(t, st, prepared.ready[countAll], "and the statement is not prepared again")
	inTx(func(c conn) { assert.Equal(t, 2, count(t, c, countAll, 0), "in a transaction, it sees its writes") })

	for i := len(prepared.ready); i < maxStmts; i++ {
		prepared.keep(string(rune('a'+i%26))+string(rune(i)), st)
	}
	const other = `SELECT COUNT(*) FROM t WHERE n < $1`
	assert.Equal(t, 1, count(t, outside, other, 2), "a query past the bound runs unprepared")
	assert.NotContains(t, prepared.ready, other)
}

// inTxPrepared runs fn in a transaction as the store's Begin does.
func inTxPrepared(ctx context.Context, db *sql.DB, prepared *stmts, fn func(c conn)) error {
	return inTx(ctx, db, prepared, func(tx *sql.Tx, c sqlstore.Conn) error {
		fn(c.(conn))
		return nil
	})
}
