package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/sqlite"
	"github.com/riptides/driverbuild/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.SQLite)
}

func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state", "driverbuild.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.ReleaseUpsert(ctx, store.Release{Tag: "v0.1.2", ReleaseID: 1}))
	require.FileExists(t, path+"-wal", "the database is in WAL mode")
	require.NoError(t, s.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err, "migrations find nothing left to do")
	defer s.Close()
	_, err = s.ReleaseByTag(ctx, "v0.1.2")
	require.NoError(t, err)
}

// TestAuditViews reads SQLite's audit views, whose durations are computed
// from text times, as Postgres's are from timestamps.
func TestAuditViews(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "driverbuild.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	p := store.BuildCreateParams{ID: "b1", CacheKey: "k1", Package: "p.deb", Now: created}
	_, _, err = s.BuildCreate(ctx, p)
	require.NoError(t, err)
	_, _, err = s.BuildTransition(ctx, lifecycle.Transition{ID: "b1", To: lifecycle.StatusDone, Source: lifecycle.SourcePoller,
		Now: created.Add(90*time.Second + 500*time.Millisecond)})
	require.NoError(t, err)
	require.NoError(t, s.RequestRecord(ctx, store.Request{ReceivedAt: created.Add(-time.Second), Outcome: "dispatched", HTTPStatus: 202, BuildID: "b1"}))
	require.NoError(t, s.RequestRecord(ctx, store.Request{ReceivedAt: created, Outcome: "cached", HTTPStatus: 200}))
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	floats := func(query string) []float64 {
		rows, err := db.QueryContext(ctx, query)
		require.NoError(t, err)
		defer rows.Close()
		var out []float64
		for rows.Next() {
			var f float64
			require.NoError(t, rows.Scan(&f))
			out = append(out, f)
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.InDeltaSlice(t, []float64{0, 90.5},
		floats(`SELECT seconds_since_created FROM audit_build_timeline WHERE build_id = 'b1' ORDER BY event_id`), 0.001)
	toDriver := floats(`SELECT time_to_driver_seconds FROM audit_requests ORDER BY id`)
	require.InDeltaSlice(t, []float64{91.5, 0}, toDriver, 0.001)
}
