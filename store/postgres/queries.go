package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/internal/scan"
)

// dbtx is what *pgxpool.Pool and pgx.Tx share.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// queries implements store.Queries on the pool or inside a transaction.
type queries struct {
	db dbtx
}

// atomic runs fn so that its writes happen together or not at all: in a
// transaction of its own, or in a savepoint of the caller's, so that a failed
// step neither aborts nor leaves anything in the caller's transaction.
func (q queries) atomic(ctx context.Context, fn func(queries) error) error {
	return pgx.BeginFunc(ctx, q.db, func(tx pgx.Tx) error { return fn(queries{db: tx}) })
}

// createAttempts bounds the retries of BuildCreate when the build holding the
// key finishes between the insert and the read of the holder.
const createAttempts = 5

func (q queries) BuildCreate(ctx context.Context, p store.BuildCreateParams) (b store.Build, created bool, err error) {
	err = q.atomic(ctx, func(q queries) error {
		now := pgTime(p.Now)
		for range createAttempts {
			// DO NOTHING rather than a unique violation: an error would abort
			// the caller's transaction.
			b, err = scanBuild(q.db.QueryRow(ctx, `
				INSERT INTO builds (id, cache_key, kernel_version, architecture, distribution, distro_version,
					driver_version, package, status, created_at, updated_at, heard_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9, $9)
				ON CONFLICT (cache_key) WHERE `+scan.ActiveStatus+` DO NOTHING
				RETURNING `+scan.BuildColumns,
				p.ID, p.CacheKey, p.KernelVersion, p.Architecture, p.Distribution, p.DistroVersion,
				p.DriverVersion, p.Package, now))
			if err == nil {
				created = true
				return q.eventInsert(ctx, store.Event{BuildID: b.ID, To: lifecycle.StatusQueued, Source: lifecycle.SourceAPI, CreatedAt: p.Now})
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			b, err = scanBuild(q.db.QueryRow(ctx,
				`SELECT `+scan.BuildColumns+` FROM builds WHERE cache_key = $1 AND `+scan.ActiveStatus, p.CacheKey))
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// The holder finished in between: the key is free again.
		}
		return fmt.Errorf("cache key %s: no stable holder after %d attempts", p.CacheKey, createAttempts)
	})
	if err != nil {
		return store.Build{}, false, fmt.Errorf("create build: %w", dbErr(err))
	}
	return b, created, nil
}

func (q queries) BuildByID(ctx context.Context, id string) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRow(ctx, `SELECT `+scan.BuildColumns+` FROM builds WHERE id = $1`, id))
	if err != nil {
		return store.Build{}, fmt.Errorf("build %s: %w", id, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildByRunID(ctx context.Context, runID int64) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRow(ctx, `
		SELECT `+scan.BuildColumns+` FROM builds WHERE run_id = $1 AND run_id <> 0
		ORDER BY created_at DESC, id DESC LIMIT 1`, runID))
	if err != nil {
		return store.Build{}, fmt.Errorf("build of run %d: %w", runID, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildLatestByKey(ctx context.Context, cacheKey string) (store.Build, error) {
	b, err := scanBuild(q.db.QueryRow(ctx, `
		SELECT `+scan.BuildColumns+` FROM builds WHERE cache_key = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, cacheKey))
	if err != nil {
		return store.Build{}, fmt.Errorf("latest build of %s: %w", cacheKey, dbErr(err))
	}
	return b, nil
}

func (q queries) BuildTransition(ctx context.Context, p lifecycle.Transition) (b store.Build, changed bool, err error) {
	err = q.atomic(ctx, func(q queries) error {
		// FOR UPDATE: concurrent webhooks about one build take turns, each
		// deciding on what the previous one wrote.
		cur, err := scanBuild(q.db.QueryRow(ctx, `SELECT `+scan.BuildColumns+` FROM builds WHERE id = $1 FOR UPDATE`, p.ID))
		if err != nil {
			return err
		}
		next, effect := lifecycle.Apply(cur.State, p)
		if effect == lifecycle.Unchanged {
			b = cur
			return nil
		}
		b, err = scanBuild(q.db.QueryRow(ctx, `
			UPDATE builds SET status = $2, reason = $3, progress = $4, run_id = $5, run_url = $6,
				download_url = $7, digest = $8, updated_at = $9, dispatched_at = $10, heard_at = $11, finished_at = $12
			WHERE id = $1
			RETURNING `+scan.BuildColumns,
			cur.ID, next.Status, next.Reason, next.Progress, next.RunID, next.RunURL,
			next.DownloadURL, next.Digest, pgTime(next.UpdatedAt), pgNullTime(next.DispatchedAt),
			pgTime(next.HeardAt), pgNullTime(next.FinishedAt)))
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
	_, err := q.db.Exec(ctx, `
		INSERT INTO build_events (build_id, from_status, to_status, reason, source, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.BuildID, e.From, e.To, e.Reason, e.Source, e.Detail, pgTime(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

func (q queries) BuildsStale(ctx context.Context, heardBefore time.Time, limit int) ([]store.Build, error) {
	bs, err := queryAll(ctx, q.db, scanBuild, `
		SELECT `+scan.BuildColumns+` FROM builds
		WHERE `+scan.ActiveStatus+` AND heard_at < $1
		ORDER BY heard_at, id LIMIT $2`, pgTime(heardBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("stale builds: %w", dbErr(err))
	}
	return bs, nil
}

func (q queries) BuildsOverdue(ctx context.Context, before time.Time, limit int) ([]store.Build, error) {
	bs, err := queryAll(ctx, q.db, scanBuild, `
		SELECT `+scan.BuildColumns+` FROM builds
		WHERE `+scan.ActiveStatus+` AND COALESCE(dispatched_at, created_at) < $1
		ORDER BY COALESCE(dispatched_at, created_at), id LIMIT $2`, pgTime(before), limit)
	if err != nil {
		return nil, fmt.Errorf("overdue builds: %w", dbErr(err))
	}
	return bs, nil
}

func (q queries) BuildEvents(ctx context.Context, buildID string) ([]store.Event, error) {
	es, err := queryAll(ctx, q.db, scanEvent, `
		SELECT id, build_id, from_status, to_status, reason, source, detail, created_at
		FROM build_events WHERE build_id = $1 ORDER BY id`, buildID)
	if err != nil {
		return nil, fmt.Errorf("events of build %s: %w", buildID, dbErr(err))
	}
	return es, nil
}

func (q queries) DeliveryRecord(ctx context.Context, deliveryID, event, action string, at time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `
		INSERT INTO webhook_deliveries (delivery_id, event, action, received_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (delivery_id) DO NOTHING`, deliveryID, event, action, pgTime(at))
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", deliveryID, dbErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

func (q queries) DeliverySeen(ctx context.Context, deliveryID string) (bool, error) {
	var seen bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE delivery_id = $1)`, deliveryID).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("look up delivery %s: %w", deliveryID, dbErr(err))
	}
	return seen, nil
}

func (q queries) RequestRecord(ctx context.Context, r store.Request) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO build_requests (received_at, kernel_version, architecture, distribution,
			distro_version, driver_version, outcome, http_status, build_id, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		pgTime(r.ReceivedAt), r.KernelVersion, r.Architecture, r.Distribution,
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
		FROM build_requests ORDER BY received_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent requests: %w", dbErr(err))
	}
	return rs, nil
}

func (q queries) ReleaseUpsert(ctx context.Context, r store.Release) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO releases (tag, release_id, etag, refreshed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tag) DO UPDATE SET
			release_id = excluded.release_id, etag = excluded.etag, refreshed_at = excluded.refreshed_at`,
		r.Tag, r.ReleaseID, r.ETag, pgNullTime(r.RefreshedAt))
	if err != nil {
		return fmt.Errorf("upsert release %s: %w", r.Tag, dbErr(err))
	}
	return nil
}

func (q queries) ReleaseByTag(ctx context.Context, tag string) (r store.Release, err error) {
	err = q.db.QueryRow(ctx, `SELECT tag, release_id, etag, refreshed_at FROM releases WHERE tag = $1`, tag).
		Scan(&r.Tag, &r.ReleaseID, &r.ETag, timeCol(&r.RefreshedAt))
	if err != nil {
		return store.Release{}, fmt.Errorf("release %s: %w", tag, dbErr(err))
	}
	return r, nil
}

func (q queries) ReleaseDelete(ctx context.Context, tag string) error {
	// One statement: the release and its assets go together.
	_, err := q.db.Exec(ctx, `
		WITH assets AS (DELETE FROM release_assets WHERE tag = $1)
		DELETE FROM releases WHERE tag = $1`, tag)
	if err != nil {
		return fmt.Errorf("delete release %s: %w", tag, dbErr(err))
	}
	return nil
}

func (q queries) ReleaseTags(ctx context.Context) ([]string, error) {
	// COLLATE "C": byte order, as SQLite sorts, not the database's locale.
	tags, err := queryAll(ctx, q.db, scanString, `SELECT tag FROM releases ORDER BY tag COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("release tags: %w", dbErr(err))
	}
	return tags, nil
}

func (q queries) AssetsReplace(ctx context.Context, tag string, assets []store.Asset) error {
	err := q.atomic(ctx, func(q queries) error {
		if _, err := q.db.Exec(ctx, `DELETE FROM release_assets WHERE tag = $1`, tag); err != nil {
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
	_, err := q.db.Exec(ctx, `
		INSERT INTO release_assets (tag, name, asset_id, download_url, size, digest, distro_version, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (tag, name) DO UPDATE SET
			asset_id = excluded.asset_id, download_url = excluded.download_url, size = excluded.size,
			digest = excluded.digest, distro_version = excluded.distro_version, updated_at = excluded.updated_at`,
		a.Tag, a.Name, a.AssetID, a.DownloadURL, a.Size, a.Digest, a.DistroVersion, pgTime(a.UpdatedAt))
	return err
}

func (q queries) AssetDelete(ctx context.Context, tag, name string) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM release_assets WHERE tag = $1 AND name = $2`, tag, name); err != nil {
		return fmt.Errorf("delete asset %s/%s: %w", tag, name, dbErr(err))
	}
	return nil
}

func (q queries) AssetByName(ctx context.Context, tag, name string) (a store.Asset, err error) {
	err = q.db.QueryRow(ctx, `
		SELECT tag, name, asset_id, download_url, size, digest, distro_version, updated_at
		FROM release_assets WHERE tag = $1 AND name = $2`, tag, name).
		Scan(&a.Tag, &a.Name, &a.AssetID, &a.DownloadURL, &a.Size, &a.Digest, &a.DistroVersion, timeCol(&a.UpdatedAt))
	if err != nil {
		return store.Asset{}, fmt.Errorf("asset %s/%s: %w", tag, name, dbErr(err))
	}
	return a, nil
}

// scanner is a row: pgx.Row or pgx.CollectableRow.
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
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// pgTime truncates explicitly to the microseconds Postgres keeps, so what
// is written is exactly what comes back.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// pgNullTime stores the zero time, "not yet", as NULL.
func pgNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgTime(t)
}

// timeCol scans a timestamptz column into t, in UTC; NULL is the zero time.
func timeCol(t *time.Time) any { return &timeScanner{t} }

type timeScanner struct{ t *time.Time }

func (s *timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	default:
		return fmt.Errorf("timestamp: unexpected %T", src)
	}
	return nil
}
