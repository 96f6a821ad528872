package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riptides/driverbuild/store"
)

func (q Queries) BuildsList(ctx context.Context, f store.BuildFilter) ([]store.Build, string, error) {
	var w where
	when(&w, "status = %s", f.Status)
	when(&w, "reason = %s", f.Reason)
	when(&w, "distribution = %s", f.Distribution)
	when(&w, "kernel_version = %s", f.KernelVersion)
	when(&w, "driver_version = %s", f.DriverVersion)
	when(&w, "created_at >= %s", f.Since)
	when(&w, "created_at < %s", f.Until)
	bs, next, err := page(ctx, q, f.Page, w, `SELECT `+buildColumns+` FROM builds`, "created_at", "id", "%s",
		func(r Rows) (store.Build, cursor, error) {
			b, err := scanBuild(r)
			return b, cursor{b.CreatedAt, b.ID}, err
		})
	return bs, next, q.wrap(err, "list builds")
}

func (q Queries) RequestsList(ctx context.Context, f store.RequestFilter) ([]store.Request, string, error) {
	var w where
	when(&w, "outcome = %s", f.Outcome)
	when(&w, "kernel_version = %s", f.KernelVersion)
	when(&w, "client = %s", f.Client)
	when(&w, "received_at >= %s", f.Since)
	when(&w, "received_at < %s", f.Until)
	rs, next, err := page(ctx, q, f.Page, w, `SELECT `+requestColumns+`, id FROM build_requests`, "received_at", "id", "CAST(%s AS BIGINT)",
		func(r Rows) (store.Request, cursor, error) {
			var id int64
			req, err := scanRequest(r, &id)
			return req, cursor{req.ReceivedAt, strconv.FormatInt(id, 10)}, err
		})
	return rs, next, q.wrap(err, "list requests")
}

func (q Queries) DeliveriesList(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, string, error) {
	var w where
	when(&w, "event = %s", f.Event)
	when(&w, "received_at >= %s", f.Since)
	ds, next, err := page(ctx, q, f.Page, w, `SELECT delivery_id, event, action, received_at FROM webhook_deliveries`,
		"received_at", "delivery_id", "%s",
		func(r Rows) (d store.Delivery, _ cursor, err error) {
			err = r.Scan(&d.ID, &d.Event, &d.Action, timeCol{&d.ReceivedAt})
			return d, cursor{d.ReceivedAt, d.ID}, err
		})
	return ds, next, q.wrap(err, "list deliveries")
}

// where is the WHERE clause of a list.
type where struct {
	conds []string
	args  []any
}

// when adds cond, in which %s stands for v, unless v is the zero value: a
// filter left empty selects all.
func when[T comparable](w *where, cond string, v T) {
	var zero T
	if v != zero {
		w.args = append(w.args, v)
		w.conds = append(w.conds, fmt.Sprintf(cond, "$"+strconv.Itoa(len(w.args))))
	}
}

// page lists the rows of query that w selects, newest first by (at, key),
// from the page's cursor on, and returns the cursor after the last one
// when more follow. keyArg is how a cursor's key compares with key, %s
// standing for it.
func page[T any](ctx context.Context, q Queries, p store.Page, w where, query, at, key, keyArg string,
	read func(Rows) (T, cursor, error),
) ([]T, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		w.args = append(w.args, c.at, c.key)
		n := len(w.args)
		w.conds = append(w.conds, fmt.Sprintf("(%s, %s) < ($%d, "+keyArg+")", at, key, n-1, "$"+strconv.Itoa(n)))
	}
	if len(w.conds) > 0 {
		query += " WHERE " + strings.Join(w.conds, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY %s DESC, %s DESC LIMIT %d", at, key, limit+1)
	type row struct {
		v T
		c cursor
	}
	rows, err := all(ctx, q, func(r Rows) (row, error) { v, c, err := read(r); return row{v, c}, err }, query, w.args...)
	if err != nil {
		return nil, "", err
	}
	var out []T
	for _, r := range rows[:min(len(rows), limit)] {
		out = append(out, r.v)
	}
	if len(rows) <= limit {
		return out, "", nil
	}
	return out, rows[limit-1].c.encode(), nil
}

// cursor is where a page ended: the last row's time and key. Rows added
// later are newer, so they never shift a page.
type cursor struct {
	at  time.Time
	key string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.at.UnixMicro(), 10) + "/" + c.key))
}

func decodeCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	at, key, ok := strings.Cut(string(raw), "/")
	micros, perr := strconv.ParseInt(at, 10, 64)
	if err != nil || !ok || perr != nil || key == "" {
		return cursor{}, store.ErrBadCursor
	}
	return cursor{time.UnixMicro(micros).UTC(), key}, nil
}
