package sqlstore

import (
	"context"
	"time"

	"github.com/riptides/driverbuild/store"
)

const listingColumns = `build_id, branch, state, pr_number, pr_url, head_sha, created_at, updated_at`

func scanListing(r Rows) (l store.Listing, err error) {
	err = r.Scan(&l.BuildID, &l.Branch, &l.State, &l.PRNumber, &l.PRURL, &l.HeadSHA, timeCol{&l.CreatedAt}, timeCol{&l.UpdatedAt})
	return l, err
}

func (q Queries) ListingPut(ctx context.Context, l store.Listing) error {
	return q.wrap(q.exec(ctx, `
		INSERT INTO kernel_listings (`+listingColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (build_id) DO UPDATE SET branch = excluded.branch, state = excluded.state,
			pr_number = excluded.pr_number, pr_url = excluded.pr_url, head_sha = excluded.head_sha,
			updated_at = excluded.updated_at`,
		l.BuildID, l.Branch, l.State, l.PRNumber, l.PRURL, l.HeadSHA, l.CreatedAt, l.UpdatedAt), "put listing of build %s", l.BuildID)
}

func (q Queries) ListingByBuild(ctx context.Context, buildID string) (store.Listing, error) {
	l, err := one(ctx, q, scanListing, `SELECT `+listingColumns+` FROM kernel_listings WHERE build_id = $1`, buildID)
	return l, q.wrap(err, "listing of build %s", buildID)
}

func (q Queries) ListingsOfBranch(ctx context.Context, branch string) ([]store.Listing, error) {
	ls, err := all(ctx, q, scanListing, `
		SELECT `+listingColumns+` FROM kernel_listings WHERE branch = $1 ORDER BY created_at, build_id`, branch)
	return ls, q.wrap(err, "listings of branch %q", branch)
}

func (q Queries) ListingsUnsettled(ctx context.Context, before time.Time, limit int) ([]store.Listing, error) {
	ls, err := all(ctx, q, scanListing, `
		SELECT `+listingColumns+` FROM kernel_listings
		WHERE state IN ('pending', 'pr_open') AND created_at < $1 ORDER BY created_at, build_id LIMIT $2`, before, limit)
	return ls, q.wrap(err, "unsettled listings")
}

func (q Queries) ListingsSet(ctx context.Context, u store.ListingsUpdate) (int, error) {
	changed, err := all(ctx, q, scanString, `
		UPDATE kernel_listings SET branch = COALESCE(NULLIF($2, ''), branch), state = COALESCE(NULLIF($3, ''), state),
			pr_number = COALESCE(NULLIF($4, 0), pr_number), pr_url = COALESCE(NULLIF($5, ''), pr_url),
			head_sha = COALESCE(NULLIF($6, ''), head_sha), updated_at = $7
		WHERE branch = $1 AND state NOT IN ('already_listed', 'merged') AND (
			branch <> COALESCE(NULLIF($2, ''), branch) OR state <> COALESCE(NULLIF($3, ''), state) OR
			pr_number <> COALESCE(NULLIF($4, 0), pr_number) OR pr_url <> COALESCE(NULLIF($5, ''), pr_url) OR
			head_sha <> COALESCE(NULLIF($6, ''), head_sha))
		RETURNING build_id`,
		u.Branch, u.ToBranch, string(u.State), u.PRNumber, u.PRURL, u.HeadSHA, u.Now)
	return len(changed), q.wrap(err, "set listings of branch %q", u.Branch)
}
