// Package scan reads rows into the store's types for both implementations,
// with the column lists their queries select. Each passes how its driver
// reads a timestamp column.
package scan

import (
	"time"

	"github.com/riptides/driverbuild/store"
)

// Row is a row of either driver.
type Row interface{ Scan(dest ...any) error }

// Time makes the destination a timestamp column is read into.
type Time func(t *time.Time) any

// BuildColumns are the columns Build reads, in its order.
const BuildColumns = `id, cache_key, kernel_version, architecture, distribution, distro_version,
	driver_version, package, status, reason, progress, run_id, run_url, download_url, digest,
	created_at, updated_at, dispatched_at, heard_at, finished_at`

// ActiveStatus is the SQL condition of a build that holds its cache key.
const ActiveStatus = `status IN ('queued', 'in_progress')`

// Build reads a row of BuildColumns.
func Build(r Row, t Time) (b store.Build, err error) {
	err = r.Scan(&b.ID, &b.CacheKey, &b.KernelVersion, &b.Architecture, &b.Distribution, &b.DistroVersion,
		&b.DriverVersion, &b.Package, &b.Status, &b.Reason, &b.Progress, &b.RunID, &b.RunURL, &b.DownloadURL, &b.Digest,
		t(&b.CreatedAt), t(&b.UpdatedAt), t(&b.DispatchedAt), t(&b.HeardAt), t(&b.FinishedAt))
	return b, err
}

// Event reads id, build_id, from, to, reason, source, detail, created_at.
func Event(r Row, t Time) (e store.Event, err error) {
	err = r.Scan(&e.ID, &e.BuildID, &e.From, &e.To, &e.Reason, &e.Source, &e.Detail, t(&e.CreatedAt))
	return e, err
}

// Request reads received_at, the five request fields, outcome,
// http_status, build_id, error.
func Request(r Row, t Time) (q store.Request, err error) {
	err = r.Scan(t(&q.ReceivedAt), &q.KernelVersion, &q.Architecture, &q.Distribution, &q.DistroVersion,
		&q.DriverVersion, &q.Outcome, &q.HTTPStatus, &q.BuildID, &q.Error)
	return q, err
}
