package postgres_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/storetest"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// TestAuditDocsQueries runs every query of docs/audit.md with psql, as a
// reader would, on a database with builds and requests in it: each must
// run and return rows.
func TestAuditDocsQueries(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/audit.md")
	require.NoError(t, err)
	blocks := sqlBlock.FindAllSubmatch(doc, -1)
	require.GreaterOrEqual(t, len(blocks), 4, "docs/audit.md has its example queries")
	url, schema := storetest.PostgresSchema(t)
	psql, err := exec.LookPath("psql")
	require.NoError(t, err, "psql runs the documented queries")
	s, err := postgres.Open(t.Context(), url, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer s.Close()
	seed(t, s)

	for _, block := range blocks {
		query := string(block[1])
		cmd := exec.CommandContext(t.Context(), psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-")
		cmd.Stdin = bytes.NewReader(block[1])
		cmd.Env = append(os.Environ(), "PGOPTIONS=-c search_path="+schema)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s\n%s", query, out)
		require.NotRegexp(t, `\(0 rows\)`, string(out), query)
		require.Regexp(t, `\(\d+ rows?\)`, string(out), query)
	}
}

// seed records, as the service would, a kernel built after two requests,
// a failed build, a cached request and an invalid one.
func seed(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Add(-time.Hour)
	at := func(sec int) time.Time { return now.Add(time.Duration(sec) * time.Second) }
	for i, end := range []lifecycle.Transition{
		{To: lifecycle.StatusDone, DownloadURL: "https://example.com/p.deb"},
		{To: lifecycle.StatusError, Reason: lifecycle.ReasonBuildFailed},
	} {
		p := store.BuildCreateParams{ID: "build-" + string(rune('a'+i)), CacheKey: "key-" + string(rune('a'+i)), Package: "p.deb", Now: at(i)}
		p.KernelVersion, p.Architecture, p.Distribution, p.DistroVersion, p.DriverVersion = "6.8.0-1021-gcp", "amd64", "ubuntu", "24.04", "v0.1.2"
		_, _, err := s.BuildCreate(ctx, p)
		require.NoError(t, err)
		_, _, err = s.BuildTransition(ctx, lifecycle.Transition{ID: p.ID, To: lifecycle.StatusInProgress, Source: lifecycle.SourceAPI, RunID: int64(40 + i), Now: at(i + 1)})
		require.NoError(t, err)
		end.ID, end.Source, end.Now = p.ID, lifecycle.SourceWebhook, at(i+100)
		_, _, err = s.BuildTransition(ctx, end)
		require.NoError(t, err)
		for _, outcome := range []string{"dispatched", "deduplicated"} {
			require.NoError(t, s.RequestRecord(ctx, store.Request{ReceivedAt: at(i), KernelVersion: p.KernelVersion,
				Architecture: "amd64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2",
				Outcome: outcome, HTTPStatus: 202, BuildID: p.ID, Client: "fleet"}))
		}
	}
	require.NoError(t, s.RequestRecord(ctx, store.Request{ReceivedAt: at(200), KernelVersion: "6.8.0-1021-gcp",
		Architecture: "amd64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2",
		Outcome: "cached", HTTPStatus: 200}))
	require.NoError(t, s.RequestRecord(ctx, store.Request{ReceivedAt: at(201), KernelVersion: "6.8.0-$(reboot)",
		Outcome: "invalid", HTTPStatus: 400, Field: "kernel_version", Error: "kernel_version: only letters, digits and .-_+~"}))
}
