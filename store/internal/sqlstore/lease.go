package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/riptides/driverbuild/store"
)

func scanTime(r Rows) (t time.Time, err error) {
	err = r.Scan(timeCol{&t})
	return t, err
}

func (q Queries) DispatchLease(ctx context.Context, p store.DispatchLeaseParams) (l store.DispatchLease, err error) {
	err = q.atomic(ctx, func(q Queries) error {
		// Takers of one build's lease take turns, so that of two who read
		// it free only one takes it.
		if q.d.LockKey != "" {
			if err := q.exec(ctx, q.d.LockKey, "dispatch lease "+p.BuildID); err != nil {
				return err
			}
		}
		now, err := q.Clock(ctx)
		if err != nil {
			return err
		}
		prev, err := one(ctx, q, scanTime, `SELECT until FROM dispatch_leases WHERE build_id = $1`, p.BuildID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case prev.After(now) && (p.Held.IsZero() || prev.After(p.Held)):
			l = store.DispatchLease{Until: prev, Left: prev.Sub(now), Attempted: true}
			return nil
		}
		// A holder's lease is never shortened: its end keeps the others
		// off until an ambiguous dispatch's run can be listed.
		until := now.Add(p.Term).Truncate(time.Microsecond)
		if prev.After(until) {
			until = prev
		}
		if err := q.exec(ctx, `
			INSERT INTO dispatch_leases (build_id, until) VALUES ($1, $2)
			ON CONFLICT (build_id) DO UPDATE SET until = excluded.until`, p.BuildID, until); err != nil {
			return err
		}
		l = store.DispatchLease{Taken: true, Until: until, Left: until.Sub(now), Attempted: !prev.IsZero()}
		return nil
	})
	return l, q.wrap(err, "dispatch lease of %s", p.BuildID)
}

func (q Queries) Clock(ctx context.Context) (time.Time, error) {
	if q.d.Clock == "" {
		return time.Now().UTC().Truncate(time.Microsecond), nil
	}
	t, err := one(ctx, q, scanTime, q.d.Clock)
	return t, q.wrap(err, "read the database's clock")
}
