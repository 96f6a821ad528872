package postgres_test

import (
	"testing"

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
