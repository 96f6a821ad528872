package postgres_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Postgres)
}

func TestOpenRejectsBadSchema(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://localhost/db", postgres.WithSchema("x; DROP TABLE builds"))
	require.ErrorContains(t, err, "schema")
}

// openTimeout bounds an Open that would otherwise wait forever on a lock or
// a pool connection; migrating a fresh schema takes well under a second.
const openTimeout = 20 * time.Second

// TestOpenWithOneConnection opens a pool of one connection: migrating must
// not need a second one while the first holds the migration lock.
func TestOpenWithOneConnection(t *testing.T) {
	t.Parallel()
	dbURL, schema := storetest.PostgresSchema(t)
	dbURL = withParam(t, dbURL, "pool_max_conns", "1")
	for _, step := range []string{"fresh schema", "nothing left to do"} {
		ctx, cancel := context.WithTimeout(t.Context(), openTimeout)
		s, err := postgres.Open(ctx, dbURL, postgres.WithSchema(schema))
		require.NoError(t, err, step)
		require.NoError(t, s.Ping(ctx), step)
		require.NoError(t, s.Close())
		cancel()
	}
}

// TestOpenConcurrently starts replicas together on a fresh schema: they take
// turns migrating, and each finds the schema complete.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	dbURL, schema := storetest.PostgresSchema(t)
	ctx, cancel := context.WithTimeout(t.Context(), openTimeout)
	defer cancel()
	var (
		wg   sync.WaitGroup
		errs [4]error
	)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(ctx, dbURL, postgres.WithSchema(schema))
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// withParam sets a connection parameter in a postgres:// URL or a key=value DSN.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
