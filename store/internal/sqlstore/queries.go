package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// buildColumns are the columns scanBuild reads, in its order.
const buildColumns = `id, cache_key, kernel_version, architecture, distribution, distro_version,
	driver_version, package, status, reason, progress, run_id, run_url, download_url, digest,
	created_at, updated_at, dispatched_at, heard_at, finished_at`

// activeStatus is the SQL condition of a build that holds its cache key,
// word for word the predicate of the indexes SQLite must match.
const activeStatus = `status IN ('queued', 'in_progress')`

func scanBuild(r Rows) (b store.Build, err error) {
	err = r.Scan(&b.ID, &b.CacheKey, &b.KernelVersion, &b.Architecture, &b.Distribution, &b.DistroVersion,
		&b.DriverVersion, &b.Package, &b.Status, &b.Reason, &b.Progress, &b.RunID, &b.RunURL, &b.DownloadURL, &b.Digest,
		timeCol{&b.CreatedAt}, timeCol{&b.UpdatedAt}, timeCol{&b.DispatchedAt}, timeCol{&b.HeardAt}, timeCol{&b.FinishedAt})
	return b, err
}

func (q Queries) BuildCreate(ctx context.Context, p store.BuildCreateParams) (b store.Build, created bool, err error) {
	err = q.atomic(ctx, func(q Queries) error {
		// Creators of one key take turns, so no other build can take the
		// key between the read of its holder and the insert. A build that
		// ends meanwhile takes no turn: the done rule covers it.
		if q.d.LockKey != "" {
			if err := q.exec(ctx, q.d.LockKey, "build "+p.CacheKey); err != nil {
				return err
			}
		}
		b, err = one(ctx, q, scanBuild, `
			SELECT `+buildColumns+` FROM builds
			WHERE cache_key = $1 AND (`+activeStatus+` OR (status = 'done' AND finished_at >= $2))
			ORDER BY created_at DESC, id DESC LIMIT 1`, p.CacheKey, nullTime(p.IndexReadAt))
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b, err = one(ctx, q, scanBuild, `
			INSERT INTO builds (id, cache_key, kernel_version, architecture, distribution, distro_version,
				driver_version, package, status, created_at, updated_at, heard_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9, $9)
			RETURNING `+buildColumns,
			p.ID, p.CacheKey, p.KernelVersion, p.Architecture, p.Distribution, p.DistroVersion,
			p.DriverVersion, p.Package, p.Now)
		if err != nil {
			return err
		}
		created = true
		return q.eventInsert(ctx, store.Event{BuildID: b.ID, To: lifecycle.StatusQueued, Source: lifecycle.SourceAPI, CreatedAt: p.Now})
	})
	if err != nil {
		return store.Build{}, false, q.wrap(err, "create build")
	}
	return b, created, nil
}

func (q Queries) BuildByID(ctx context.Context, id string) (store.Build, error) {
	b, err := one(ctx, q, scanBuild, `SELECT `+buildColumns+` FROM builds WHERE id = $1`, id)
	return b, q.wrap(err, "build %s", id)
}

func (q Queries) BuildByRunID(ctx context.Context, runID int64) (store.Build, error) {
	b, err := one(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds WHERE run_id = $1 AND run_id <> 0
		ORDER BY created_at DESC, id DESC LIMIT 1`, runID)
	return b, q.wrap(err, "build of run %d", runID)
}

func (q Queries) BuildLatestByKey(ctx context.Context, cacheKey string) (store.Build, error) {
	b, err := one(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds WHERE cache_key = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, cacheKey)
	return b, q.wrap(err, "latest build of %s", cacheKey)
}

func (q Queries) BuildTransition(ctx context.Context, p lifecycle.Transition) (b store.Build, changed bool, err error) {
	err = q.atomic(ctx, func(q Queries) error {
		// Concurrent webhooks about one build take turns, each deciding on
		// what the previous one wrote.
		cur, err := one(ctx, q, scanBuild, `SELECT `+buildColumns+` FROM builds WHERE id = $1`+q.d.ForUpdate, p.ID)
		if err != nil {
			return err
		}
		next, effect := lifecycle.Apply(cur.State, p)
		if effect == lifecycle.Unchanged {
			b = cur
			return nil
		}
		b, err = one(ctx, q, scanBuild, `
			UPDATE builds SET status = $2, reason = $3, progress = $4, run_id = $5, run_url = $6,
				download_url = $7, digest = $8, updated_at = $9, dispatched_at = $10, heard_at = $11, finished_at = $12
			WHERE id = $1
			RETURNING `+buildColumns,
			cur.ID, next.Status, next.Reason, next.Progress, next.RunID, next.RunURL,
			next.DownloadURL, next.Digest, next.UpdatedAt, nullTime(next.DispatchedAt),
			next.HeardAt, nullTime(next.FinishedAt))
		if err != nil || effect != lifecycle.Moved {
			return err
		}
		changed = true
		return q.eventInsert(ctx, store.Event{BuildID: cur.ID, From: cur.Status, To: next.Status,
			Reason: p.Reason, Source: p.Source, Detail: p.Detail, CreatedAt: p.Now})
	})
	if err != nil {
		return store.Build{}, false, q.wrap(err, "transition build %s", p.ID)
	}
	return b, changed, nil
}

func (q Queries) eventInsert(ctx context.Context, e store.Event) error {
	return q.exec(ctx, `
		INSERT INTO build_events (build_id, from_status, to_status, reason, source, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.BuildID, e.From, e.To, e.Reason, e.Source, e.Detail, e.CreatedAt)
}

func (q Queries) BuildsStale(ctx context.Context, p store.BuildsStaleParams) ([]store.Build, error) {
	bs, err := all(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds
		WHERE `+activeStatus+` AND heard_at < $1 AND ($2 = '' OR status = $2)
		ORDER BY heard_at, id LIMIT $3`, p.HeardBefore, string(p.Status), p.Limit)
	return bs, q.wrap(err, "stale builds")
}

func (q Queries) BuildsOverdue(ctx context.Context, before time.Time, limit int) ([]store.Build, error) {
	bs, err := all(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds
		WHERE `+activeStatus+` AND COALESCE(dispatched_at, created_at) < $1
		ORDER BY COALESCE(dispatched_at, created_at), id LIMIT $2`, before, limit)
	return bs, q.wrap(err, "overdue builds")
}

func scanEvent(r Rows) (e store.Event, err error) {
	err = r.Scan(&e.ID, &e.BuildID, &e.From, &e.To, &e.Reason, &e.Source, &e.Detail, timeCol{&e.CreatedAt})
	return e, err
}

func (q Queries) BuildEvents(ctx context.Context, buildID string) ([]store.Event, error) {
	es, err := all(ctx, q, scanEvent, `
		SELECT id, build_id, from_status, to_status, reason, source, detail, created_at
		FROM build_events WHERE build_id = $1 ORDER BY id`, buildID)
	return es, q.wrap(err, "events of build %s", buildID)
}

func scanString(r Rows) (v string, err error) {
	err = r.Scan(&v)
	return v, err
}

func (q Queries) DeliveryRecord(ctx context.Context, deliveryID, event, action string, at time.Time) (bool, error) {
	inserted, err := all(ctx, q, scanString, `
		INSERT INTO webhook_deliveries (delivery_id, event, action, received_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (delivery_id) DO NOTHING
		RETURNING delivery_id`, deliveryID, event, action, at)
	return len(inserted) == 1, q.wrap(err, "record delivery %s", deliveryID)
}

func (q Queries) DeliverySeen(ctx context.Context, deliveryID string) (bool, error) {
	found, err := all(ctx, q, scanString, `SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = $1`, deliveryID)
	return len(found) == 1, q.wrap(err, "look up delivery %s", deliveryID)
}

func (q Queries) RequestRecord(ctx context.Context, r store.Request) error {
	return q.RequestsRecord(ctx, []store.Request{r})
}

// requestsPerInsert is the rows of one INSERT: one statement to parse per
// many rows, 12 parameters a row, under either engine's limit.
const requestsPerInsert = 200

func (q Queries) RequestsRecord(ctx context.Context, rs []store.Request) error {
	return q.wrap(q.atomic(ctx, func(q Queries) error {
		for len(rs) > 0 {
			n := min(len(rs), requestsPerInsert)
			var sql strings.Builder
			sql.WriteString(`INSERT INTO build_requests (received_at, kernel_version, architecture, distribution,
				distro_version, driver_version, outcome, http_status, build_id, error, field, client) VALUES `)
			args := make([]any, 0, 12*n)
			for i, r := range rs[:n] {
				if i > 0 {
					sql.WriteString(", ")
				}
				sql.WriteString("(")
				for c := range 12 {
					if c > 0 {
						sql.WriteString(", ")
					}
					if q.d.Anonymous {
						sql.WriteString("?")
					} else {
						fmt.Fprintf(&sql, "$%d", len(args)+c+1)
					}
				}
				sql.WriteString(")")
				args = append(args, r.ReceivedAt, r.KernelVersion, r.Architecture, r.Distribution, r.DistroVersion, r.DriverVersion,
					r.Outcome, r.HTTPStatus, r.BuildID, r.Error, r.Field, r.Client)
			}
			if err := q.exec(ctx, sql.String(), args...); err != nil {
				return err
			}
			rs = rs[n:]
		}
		return nil
	}), "record requests")
}

// requestColumns are the columns scanRequest reads, in its order.
const requestColumns = `received_at, kernel_version, architecture, distribution, distro_version,
	driver_version, outcome, http_status, build_id, error, field, client`

// scanRequest reads requestColumns, then the columns after them into more.
func scanRequest(r Rows, more ...any) (q store.Request, err error) {
	err = r.Scan(append([]any{timeCol{&q.ReceivedAt}, &q.KernelVersion, &q.Architecture, &q.Distribution, &q.DistroVersion,
		&q.DriverVersion, &q.Outcome, &q.HTTPStatus, &q.BuildID, &q.Error, &q.Field, &q.Client}, more...)...)
	return q, err
}

func (q Queries) RequestsRecent(ctx context.Context, limit int) ([]store.Request, error) {
	rs, err := all(ctx, q, func(r Rows) (store.Request, error) { return scanRequest(r) }, `
		SELECT `+requestColumns+` FROM build_requests ORDER BY received_at DESC, id DESC LIMIT $1`, limit)
	return rs, q.wrap(err, "recent requests")
}

func (q Queries) ReleaseUpsert(ctx context.Context, r store.Release) error {
	return q.wrap(q.exec(ctx, `
		INSERT INTO releases (tag, release_id, etag, refreshed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tag) DO UPDATE SET
			release_id = excluded.release_id, etag = excluded.etag, refreshed_at = excluded.refreshed_at`,
		r.Tag, r.ReleaseID, r.ETag, nullTime(r.RefreshedAt)), "upsert release %s", r.Tag)
}

func scanRelease(row Rows) (r store.Release, err error) {
	err = row.Scan(&r.Tag, &r.ReleaseID, &r.ETag, timeCol{&r.RefreshedAt})
	return r, err
}

func (q Queries) ReleaseByTag(ctx context.Context, tag string) (store.Release, error) {
	r, err := one(ctx, q, scanRelease, `SELECT tag, release_id, etag, refreshed_at FROM releases WHERE tag = $1`, tag)
	return r, q.wrap(err, "release %s", tag)
}

func (q Queries) ReleaseDelete(ctx context.Context, tag string) error {
	return q.wrap(q.atomic(ctx, func(q Queries) error {
		if err := q.exec(ctx, `DELETE FROM release_assets WHERE tag = $1`, tag); err != nil {
			return err
		}
		if err := q.exec(ctx, `DELETE FROM releases WHERE tag = $1`, tag); err != nil {
			return err
		}
		return q.notify(ctx, tag)
	}), "delete release %s", tag)
}

func (q Queries) ReleaseTags(ctx context.Context) ([]string, error) {
	tags, err := all(ctx, q, scanString, `SELECT tag FROM releases ORDER BY tag `+q.d.ByteOrder)
	return tags, q.wrap(err, "release tags")
}

func (q Queries) AssetsReplace(ctx context.Context, tag string, assets []store.Asset, listedAt time.Time) (kept bool, err error) {
	err = q.atomic(ctx, func(q Queries) error {
		if err := q.exec(ctx, `DELETE FROM release_assets WHERE tag = $1 AND updated_at < $2`, tag, listedAt); err != nil {
			return err
		}
		names := make(map[string]bool, len(assets))
		for _, a := range assets {
			a.Tag = tag
			names[a.Name] = true
			if err := q.assetWrite(ctx, a); err != nil {
				return err
			}
		}
		held, err := one(ctx, q, scanInt, `SELECT COUNT(*) FROM release_assets WHERE tag = $1`, tag)
		if err != nil {
			return err
		}
		kept = held > len(names)
		return q.notify(ctx, tag)
	})
	return kept, q.wrap(err, "replace assets of %s", tag)
}

func scanInt(r Rows) (n int, err error) {
	err = r.Scan(&n)
	return n, err
}

func (q Queries) AssetUpsert(ctx context.Context, a store.Asset) error {
	return q.wrap(q.atomic(ctx, func(q Queries) error {
		if err := q.assetWrite(ctx, a); err != nil {
			return err
		}
		return q.notify(ctx, a.Tag)
	}), "upsert asset %s/%s", a.Tag, a.Name)
}

// notify runs with every write to a release's assets, in its transaction.
func (q Queries) notify(ctx context.Context, tag string) error {
	if q.d.Notify == "" {
		return nil
	}
	return q.exec(ctx, q.d.Notify, tag)
}

func (q Queries) assetWrite(ctx context.Context, a store.Asset) error {
	return q.exec(ctx, `
		INSERT INTO release_assets (tag, name, asset_id, download_url, size, digest, distro_version, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (tag, name) DO UPDATE SET
			asset_id = excluded.asset_id, download_url = excluded.download_url, size = excluded.size,
			digest = excluded.digest, distro_version = excluded.distro_version, updated_at = excluded.updated_at`,
		a.Tag, a.Name, a.AssetID, a.DownloadURL, a.Size, a.Digest, a.DistroVersion, a.UpdatedAt)
}

func (q Queries) AssetDelete(ctx context.Context, tag, name string) error {
	return q.wrap(q.atomic(ctx, func(q Queries) error {
		if err := q.exec(ctx, `DELETE FROM release_assets WHERE tag = $1 AND name = $2`, tag, name); err != nil {
			return err
		}
		return q.notify(ctx, tag)
	}), "delete asset %s/%s", tag, name)
}

func scanAsset(r Rows) (a store.Asset, err error) {
	err = r.Scan(&a.Tag, &a.Name, &a.AssetID, &a.DownloadURL, &a.Size, &a.Digest, &a.DistroVersion, timeCol{&a.UpdatedAt})
	return a, err
}

func (q Queries) AssetByName(ctx context.Context, tag, name string) (store.Asset, error) {
	a, err := one(ctx, q, scanAsset, `
		SELECT tag, name, asset_id, download_url, size, digest, distro_version, updated_at
		FROM release_assets WHERE tag = $1 AND name = $2`, tag, name)
	return a, q.wrap(err, "asset %s/%s", tag, name)
}

func (q Queries) AssetsOfTag(ctx context.Context, tag string) ([]store.Asset, error) {
	as, err := all(ctx, q, scanAsset, `
		SELECT tag, name, asset_id, download_url, size, digest, distro_version, updated_at
		FROM release_assets WHERE tag = $1 ORDER BY name `+q.d.ByteOrder, tag)
	return as, q.wrap(err, "assets of %s", tag)
}

func (q Queries) ReleaseAssetCounts(ctx context.Context) (map[string]int, error) {
	type count struct {
		tag string
		n   int
	}
	rows, err := all(ctx, q, func(r Rows) (c count, err error) {
		err = r.Scan(&c.tag, &c.n)
		return c, err
	}, `
		SELECT r.tag, COUNT(a.name) FROM releases r LEFT JOIN release_assets a ON a.tag = r.tag
		GROUP BY r.tag`)
	if err != nil {
		return nil, q.wrap(err, "release asset counts")
	}
	out := make(map[string]int, len(rows))
	for _, c := range rows {
		out[c.tag] = c.n
	}
	return out, nil
}
