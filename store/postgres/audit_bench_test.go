package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riptides/driverbuild/dashboard"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/postgres"
	"github.com/riptides/driverbuild/store/storetest"
)

// auditRows is how many builds, requests and deliveries the benchmark
// generates: the size the audit API must answer at in under 50 ms a page.
const auditRows = 1_000_000

// BenchmarkAuditLists measures each audit list, with each filter and the
// pairs of filters an operator asks most, on Postgres holding a million
// builds, requests and deliveries spread over a year (five distributions,
// 5,000 kernels, 4% failed). Generating them takes a minute or two; run it
// with -run '^$' -bench AuditLists -benchtime 50x. docs/audit.md has the
// figures.
func BenchmarkAuditLists(b *testing.B) {
	ctx := context.Background()
	url, schema := storetest.PostgresSchema(b)
	s, err := postgres.Open(ctx, url, postgres.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	for _, stmt := range []string{
		"SET search_path = " + schema,
		// A build every 30 s for a year, newest last.
		`INSERT INTO builds (id, cache_key, kernel_version, architecture, distribution, distro_version,
			driver_version, package, status, reason, run_id, created_at, updated_at, heard_at, dispatched_at, finished_at)
		SELECT 'b-' || lpad(i::text, 7, '0'), 'key-' || i, '6.8.0-' || (i % 5000) || '-gcp', 'amd64',
			(ARRAY['ubuntu', 'debian', 'fedora', 'centos', 'amazonlinux'])[i / 3 % 5 + 1], '24.04',
			'v0.1.' || (i % 20), 'p-' || i || '.deb',
			CASE WHEN i > $1 - 10 THEN 'in_progress' WHEN i % 25 = 0 THEN 'error' ELSE 'done' END,
			CASE WHEN i > $1 - 10 OR i % 25 <> 0 THEN ''
				ELSE (ARRAY['build_failed', 'timed_out', 'cancelled', 'dispatch_failed', 'package_missing'])[i / 25 % 5 + 1] END,
			i, t, t, t + interval '10 minutes', t + interval '5 seconds',
			CASE WHEN i > $1 - 10 THEN NULL ELSE t + interval '10 minutes' END
		FROM generate_series(1, $1) AS i, LATERAL (SELECT now() - interval '365 days' + i * interval '30 seconds' AS t) AS at`,
		`INSERT INTO build_events (build_id, from_status, to_status, reason, source, detail, created_at)
		SELECT id, '', 'queued', '', 'api', '', created_at FROM builds`,
		`INSERT INTO build_requests (received_at, kernel_version, architecture, distribution, distro_version,
			driver_version, outcome, http_status, build_id, error, field, client)
		SELECT now() - interval '365 days' + i * interval '30 seconds', '6.8.0-' || (i % 5000) || '-gcp', 'amd64',
			'ubuntu', '24.04', 'v0.1.2',
			(ARRAY['cached', 'cached', 'cached', 'dispatched', 'deduplicated', 'invalid'])[i % 6 + 1],
			CASE WHEN i % 6 = 5 THEN 400 ELSE 200 END, '', '', '', 'cluster-' || (i % 50)
		FROM generate_series(1, $1) AS i`,
		`INSERT INTO webhook_deliveries (delivery_id, event, action, received_at)
		SELECT 'd-' || i, (ARRAY['workflow_run', 'workflow_job', 'workflow_job', 'release'])[i % 4 + 1], 'completed',
			now() - interval '365 days' + i * interval '30 seconds'
		FROM generate_series(1, $1) AS i`,
		"ANALYZE",
	} {
		var args []any
		if stmt != "ANALYZE" && stmt[:3] != "SET" && stmt[:20] != "INSERT INTO build_ev" {
			args = []any{auditRows}
		}
		if _, err := conn.Exec(ctx, stmt, args...); err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	b.Logf("generated %d builds, events, requests and deliveries in %s", auditRows, time.Since(start).Round(time.Second))

	now := time.Now().UTC()
	// The dashboard looks back from the newest rows, a few weeks before now.
	newest := now.AddDate(0, 0, -365).Add(auditRows * 30 * time.Second)
	deep := deepCursor(b, s)
	for name, list := range map[string]func() error{
		"builds":                     builds(s, store.BuildFilter{}),
		"builds status=error":        builds(s, store.BuildFilter{Status: lifecycle.StatusError}),
		"builds status=in_progress":  builds(s, store.BuildFilter{Status: lifecycle.StatusInProgress}),
		"builds reason=timed_out":    builds(s, store.BuildFilter{Reason: lifecycle.ReasonTimedOut}),
		"builds distribution=fedora": builds(s, store.BuildFilter{Distribution: "fedora"}),
		"builds kernel":              builds(s, store.BuildFilter{KernelVersion: "6.8.0-4242-gcp"}),
		"builds kernel unknown":      builds(s, store.BuildFilter{KernelVersion: "6.9.0-1-gcp"}),
		"builds driver_version":      builds(s, store.BuildFilter{DriverVersion: "v0.1.7"}),
		"builds a month ago":         builds(s, store.BuildFilter{Since: now.AddDate(0, -2, 0), Until: now.AddDate(0, -1, 0)}),
		"builds fedora failed":       builds(s, store.BuildFilter{Distribution: "fedora", Status: lifecycle.StatusError}),
		"builds fedora in_progress":  builds(s, store.BuildFilter{Distribution: "fedora", Status: lifecycle.StatusInProgress}),
		"builds v0.1.7 timed_out":    builds(s, store.BuildFilter{DriverVersion: "v0.1.7", Reason: lifecycle.ReasonTimedOut}),
		"builds kernel failed":       builds(s, store.BuildFilter{KernelVersion: "6.8.0-4242-gcp", Status: lifecycle.StatusError}),
		"builds 500 max page":        builds(s, store.BuildFilter{Page: store.Page{Limit: store.MaxLimit}}),
		"builds page 10,000 rows in": builds(s, store.BuildFilter{Page: store.Page{Cursor: deep}}),
		"build events": func() error {
			_, err := s.BuildEvents(ctx, "b-0424242")
			return err
		},
		"requests":                 requests(s, store.RequestFilter{}),
		"requests outcome=invalid": requests(s, store.RequestFilter{Outcome: "invalid"}),
		"requests kernel":          requests(s, store.RequestFilter{KernelVersion: "6.8.0-4242-gcp"}),
		"requests client":          requests(s, store.RequestFilter{Client: "cluster-7"}),
		"requests a month ago":     requests(s, store.RequestFilter{Since: now.AddDate(0, -2, 0), Until: now.AddDate(0, -1, 0)}),
		"deliveries":               deliveries(s, store.DeliveryFilter{}),
		"deliveries event=release": deliveries(s, store.DeliveryFilter{Event: "release"}),
		"deliveries since":         deliveries(s, store.DeliveryFilter{Since: now.AddDate(0, -1, 0)}),
		"dashboard builds active": func() error {
			_, err := s.BuildsActive(ctx, 100)
			return err
		},
		"dashboard builds finished": func() error {
			_, err := s.BuildsFinished(ctx, 25)
			return err
		},
		"dashboard failures": func() error {
			_, err := s.BuildFailures(ctx, newest.Add(-dashboard.Window))
			return err
		},
		"dashboard kernels": func() error {
			_, err := s.RequestKernels(ctx, newest.Add(-dashboard.Window))
			return err
		},
		// Everything GET /api/dashboard reads, as every open page asks for
		// it every few seconds.
		"dashboard": func() error {
			_, err := dashboard.Read(ctx, s, newest, true)
			return err
		},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := list(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func builds(s store.Store, f store.BuildFilter) func() error {
	return func() error {
		_, _, err := s.BuildsList(context.Background(), f)
		return err
	}
}

func requests(s store.Store, f store.RequestFilter) func() error {
	return func() error {
		_, _, err := s.RequestsList(context.Background(), f)
		return err
	}
}

func deliveries(s store.Store, f store.DeliveryFilter) func() error {
	return func() error {
		_, _, err := s.DeliveriesList(context.Background(), f)
		return err
	}
}

// deepCursor pages 10,000 builds into the list.
func deepCursor(b *testing.B, s store.Store) string {
	f := store.BuildFilter{Page: store.Page{Limit: store.MaxLimit}}
	for range 10_000 / store.MaxLimit {
		_, next, err := s.BuildsList(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		f.Cursor = next
	}
	return f.Cursor
}
