package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/internal/scan"
)

// dbtx is what *sql.DB and *sql.Tx share.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries on the database or inside a transaction;
// begin is nil inside a transaction.
type queries struct {
	db    dbtx
	begin func(context.Context, *sql.TxOptions) (*sql.Tx, error)
}

// atomic runs fn so that its writes happen together or not at all: in a
// transaction of its own, or in a savepoint of the caller's, so that a failed
// step leaves nothing behind in a transaction the caller goes on to commit.
func (q queries) atomic(ctx context.Context, fn func(queries) error) error {
	if q.begin == nil {
		if _, err := q.db.ExecContext(ctx, "SAVEPOINT store_op"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if err := fn(q); err != nil {
			// ROLLBACK TO keeps the savepoint open; RELEASE ends it.
			ctx := context.WithoutCancel(ctx)
			_, _ = q.db.ExecContext(ctx, "ROLLBACK TO store_op")
			_, _ = q.db.ExecContext(ctx, "RELEASE store_op")
			return err
		}
		if _, err := q.db.ExecContext(ctx, "RELEASE store_op"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	tx, err := q.begin(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(queries{db: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (q queries) BuildCreate(ctx context.Context, p store.BuildCreateParams) (b store.Build, created bool, err error) {
	err = q.atomic(ctx, func(q queries) error {
		now := fmtTime(p.Now)
		b, err = scanBuild(q.db.QueryRowContext(ctx, `
			INSERT INTO builds (id, cache_key, kernel_version, architecture, distribution, distro_version,
				driver_version, package, status, created_at, updated_at, heard_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
			ON CONFLICT (cache_key) WHERE `+scan.ActiveStatus+` DO NOTHING
			RETURNING `+scan.BuildColumns,
			p.ID, p.CacheKey, p.KernelVersion, p.Architecture, p.Distribution, p.DistroVersion,
			p.DriverVersion, p.Package, now, now, now))
		if err == nil {
			created = true
			return q.eventInsert(ctx, store.Event{BuildID: b.ID, To: lifecycle.StatusQueued, Source: lifecycle.SourceAPI, CreatedAt: p.Now})
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The transaction holds SQLite's only write lock, so the build that
		// holds the key cannot have finished since the insert.
		b, err = scanBuild(q.db.QueryRowContext(ctx,
			`SELECT `+scan.BuildColumns+` FROM builds WHERE cache_key = ? AND `+scan.ActiveStatus, p.CacheKey))
		return err
	})
	if err != nil {
		return store.Build{}, false, fmt.Errorf("create build: %w", dbErr(err))
	}
	return b, created, nil
}

func (q queries) BuildByID(ctx context.Context, id string) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRowContext(ctx, `SELECT `+scan.BuildColumns+` FROM builds WHERE id = ?`, id))
	if err != nil {
		return store.Build{}, fmt.Errorf("build %s: %w", id, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildByRunID(ctx context.Context, runID int64) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRowContext(ctx, `
		SELECT `+scan.BuildColumns+` FROM builds WHERE run_id = ? AND run_id <> 0
		ORDER BY created_at DESC, id DESC LIMIT 1`, runID))
	if err != nil {
		return store.Build{}, fmt.Errorf("build of run %d: %w", runID, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildLatestByKey(ctx context.Context, cacheKey string) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRowContext(ctx, `
		SELECT `+scan.BuildColumns+` FROM builds WHERE cache_key = ?
		ORDER BY created_at DESC, id DESC LIMIT 1`, cacheKey))
	if err != nil {
		return store.Build{}, fmt.Errorf("latest build of %s: %w", cacheKey, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildTransition(ctx context.Context, p lifecycle.Transition) (b store.Build, changed bool, err error) {
	err = q.atomic(ctx, func(q queries) error {
		cur, err := scanBuild(q.db.QueryRowContext(ctx, `SELECT `+scan.BuildColumns+` FROM builds WHERE id = ?`, p.ID))
		if err != nil {
			return err
		}
		next, effect := lifecycle.Apply(cur.State, p)
		if effect == lifecycle.Unchanged {
			b = cur
			return nil
		}
		b, err = scanBuild(q.db.QueryRowContext(ctx, `
			UPDATE builds SET status = ?, reason = ?, progress = ?, run_id = ?, run_url = ?,
				download_url = ?, digest = ?, updated_at = ?, dispatched_at = ?, heard_at = ?, finished_at = ?
			WHERE id = ?
			RETURNING `+scan.BuildColumns,
			next.Status, next.Reason, next.Progress, next.RunID, next.RunURL,
			next.DownloadURL, next.Digest, fmtTime(next.UpdatedAt), fmtNullTime(next.DispatchedAt),
			fmtTime(next.HeardAt), fmtNullTime(next.FinishedAt), cur.ID))
		if err != nil || effect != lifecycle.Moved {
			return err
		}
		changed = true
		return q.eventInsert(ctx, store.Event{BuildID: cur.ID, From: cur.Status, To: next.Status,
			Reason: p.Reason, Source: p.Source, Detail: p.Detail, CreatedAt: p.Now})
	})
	if err != nil {
		return store.Build{}, false, fmt.Errorf("transition build %s: %w", p.ID, dbErr(err))
	}
	return b, changed, nil
}

func (q queries) eventInsert(ctx context.Context, e store.Event) error {
	_, err := q.db.ExecContext(ctx, `
		INSERT INTO build_events (build_id, from_status, to_status, reason, source, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.BuildID, e.From, e.To, e.Reason, e.Source, e.Detail, fmtTime(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

func (q queries) BuildsStale(ctx context.Context, heardBefore time.Time, limit int) ([]store.Build, error) {
	bs, err := queryAll(ctx, q.db, scanBuild, `
		SELECT `+scan.BuildColumns+` FROM builds
		WHERE `+scan.ActiveStatus+` AND heard_at < ?
		ORDER BY heard_at, id LIMIT ?`, fmtTime(heardBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("stale builds: %w", dbErr(err))
	}
	return bs, nil
}

func (q queries) BuildsOverdue(ctx context.Context, before time.Time, limit int) ([]store.Build, error) {
	bs, err := queryAll(ctx, q.db, scanBuild, `
		SELECT `+scan.BuildColumns+` FROM builds
		WHERE `+scan.ActiveStatus+` AND COALESCE(dispatched_at, created_at) < ?
		ORDER BY COALESCE(dispatched_at, created_at), id LIMIT ?`, fmtTime(before), limit)
	if err != nil {
		return nil, fmt.Errorf("overdue builds: %w", dbErr(err))
	}
	return bs, nil
}

func (q queries) BuildEvents(ctx context.Context, buildID string) ([]store.Event, error) {
	es, err := queryAll(ctx, q.db, scanEvent, `
		SELECT id, build_id, from_status, to_status, reason, source, detail, created_at
		FROM build_events WHERE build_id = ? ORDER BY id`, buildID)
	if err != nil {
		return nil, fmt.Errorf("events of build %s: %w", buildID, dbErr(err))
	}
	return es, nil
}

func (q queries) DeliveryRecord(ctx context.Context, deliveryID, event, action string, at time.Time) (bool, error) {
	res, err := q.db.ExecContext(ctx, `
		INSERT INTO webhook_deliveries (delivery_id, event, action, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (delivery_id) DO NOTHING`, deliveryID, event, action, fmtTime(at))
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", deliveryID, dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", deliveryID, err)
	}
	return n == 1, nil
}

func (q queries) DeliverySeen(ctx context.Context, deliveryID string) (bool, error) {
	var seen bool
	err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?)`, deliveryID).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("look up delivery %s: %w", deliveryID, dbErr(err))
	}
	return seen, nil
}

func (q queries) RequestRecord(ctx context.Context, r store.Request) error {
	_, err := q.db.ExecContext(ctx, `
		INSERT INTO build_requests (received_at, kernel_version, architecture, distribution,
			distro_version, driver_version, outcome, http_status, build_id, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fmtTime(r.ReceivedAt), r.KernelVersion, r.Architecture, r.Distribution,
		r.DistroVersion, r.DriverVersion, r.Outcome, r.HTTPStatus, r.BuildID, r.Error)
	if err != nil {
		return fmt.Errorf("record request: %w", dbErr(err))
	}
	return nil
}

func (q queries) RequestsRecent(ctx context.Context, limit int) ([]store.Request, error) {
	rs, err := queryAll(ctx, q.db, scanRequest, `
		SELECT received_at, kernel_version, architecture, distribution, distro_version,
			driver_version, outcome, http_status, build_id, error
		FROM build_requests ORDER BY received_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent requests: %w", dbErr(err))
	}
	return rs, nil
}

func (q queries) ReleaseUpsert(ctx context.Context, r store.Release) error {
	_, err := q.db.ExecContext(ctx, `
		INSERT INTO releases (tag, release_id, etag, refreshed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tag) DO UPDATE SET
			release_id = excluded.release_id, etag = excluded.etag, refreshed_at = excluded.refreshed_at`,
		r.Tag, r.ReleaseID, r.ETag, fmtNullTime(r.RefreshedAt))
	if err != nil {
		return fmt.Errorf("upsert release %s: %w", r.Tag, dbErr(err))
	}
	return nil
}

func (q queries) ReleaseByTag(ctx context.Context, tag string) (r store.Release, err error) {
	err = q.db.QueryRowContext(ctx, `SELECT tag, release_id, etag, refreshed_at FROM releases WHERE tag = ?`, tag).
		Scan(&r.Tag, &r.ReleaseID, &r.ETag, timeCol(&r.RefreshedAt))
	if err != nil {
		return store.Release{}, fmt.Errorf("release %s: %w", tag, dbErr(err))
	}
	return r, nil
}

func (q queries) ReleaseDelete(ctx context.Context, tag string) error {
	err := q.atomic(ctx, func(q queries) error {
		if _, err := q.db.ExecContext(ctx, `DELETE FROM release_assets WHERE tag = ?`, tag); err != nil {
			return err
		}
		_, err := q.db.ExecContext(ctx, `DELETE FROM releases WHERE tag = ?`, tag)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete release %s: %w", tag, dbErr(err))
	}
	return nil
}

func (q queries) ReleaseTags(ctx context.Context) ([]string, error) {
	tags, err := queryAll(ctx, q.db, scanString, `SELECT tag FROM releases ORDER BY tag`)
	if err != nil {
		return nil, fmt.Errorf("release tags: %w", dbErr(err))
	}
	return tags, nil
}

func (q queries) AssetsReplace(ctx context.Context, tag string, assets []store.Asset) error {
	err := q.atomic(ctx, func(q queries) error {
		if _, err := q.db.ExecContext(ctx, `DELETE FROM release_assets WHERE tag = ?`, tag); err != nil {
			return err
		}
		for _, a := range assets {
			a.Tag = tag
			if err := q.assetWrite(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace assets of %s: %w", tag, dbErr(err))
	}
	return nil
}

func (q queries) AssetUpsert(ctx context.Context, a store.Asset) error {
	if err := q.assetWrite(ctx, a); err != nil {
		return fmt.Errorf("upsert asset %s/%s: %w", a.Tag, a.Name, dbErr(err))
	}
	return nil
}

func (q queries) assetWrite(ctx context.Context, a store.Asset) error {
	_, err := q.db.ExecContext(ctx, `
		INSERT INTO release_assets (tag, name, asset_id, download_url, size, digest, distro_version, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tag, name) DO UPDATE SET
			asset_id = excluded.asset_id, download_url = excluded.download_url, size = excluded.size,
			digest = excluded.digest, distro_version = excluded.distro_version, updated_at = excluded.updated_at`,
		a.Tag, a.Name, a.AssetID, a.DownloadURL, a.Size, a.Digest, a.DistroVersion, fmtTime(a.UpdatedAt))
	return err
}

func (q queries) AssetDelete(ctx context.Context, tag, name string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM release_assets WHERE tag = ? AND name = ?`, tag, name); err != nil {
		return fmt.Errorf("delete asset %s/%s: %w", tag, name, dbErr(err))
	}
	return nil
}

func (q queries) AssetByName(ctx context.Context, tag, name string) (a store.Asset, err error) {
	err = q.db.QueryRowContext(ctx, `
		SELECT tag, name, asset_id, download_url, size, digest, distro_version, updated_at
		FROM release_assets WHERE tag = ? AND name = ?`, tag, name).
		Scan(&a.Tag, &a.Name, &a.AssetID, &a.DownloadURL, &a.Size, &a.Digest, &a.DistroVersion, timeCol(&a.UpdatedAt))
	if err != nil {
		return store.Asset{}, fmt.Errorf("asset %s/%s: %w", tag, name, dbErr(err))
	}
	return a, nil
}

// scanner is a row: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanBuild(s scanner) (store.Build, error)     { return scan.Build(s, timeCol) }
func scanEvent(s scanner) (store.Event, error)     { return scan.Event(s, timeCol) }
func scanRequest(s scanner) (store.Request, error) { return scan.Request(s, timeCol) }

func scanString(s scanner) (v string, err error) {
	err = s.Scan(&v)
	return v, err
}

// queryAll runs a query and scans every row it returns.
func queryAll[T any](ctx context.Context, db dbtx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// timeLayout is UTC at one fixed width, so SQLite compares and sorts the
// text as it would the times. Microseconds are what Postgres keeps too.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// fmtNullTime stores the zero time, "not yet", as NULL.
func fmtNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

// timeCol scans a timestamp column into t; NULL is the zero time.
func timeCol(t *time.Time) any { return &timeScanner{t} }

type timeScanner struct{ t *time.Time }

func (s *timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case string:
		t, err := time.Parse(timeLayout, v)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		*s.t = t
	default:
		return fmt.Errorf("timestamp: unexpected %T", src)
	}
	return nil
}
