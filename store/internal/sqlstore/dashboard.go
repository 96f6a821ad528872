package sqlstore

import (
	"context"
	"time"

	"github.com/riptides/driverbuild/store"
)

func (q Queries) BuildsActive(ctx context.Context, limit int) ([]store.Build, error) {
	bs, err := all(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds WHERE `+activeStatus+`
		ORDER BY created_at, id LIMIT $1`, limit)
	return bs, q.wrap(err, "active builds")
}

func (q Queries) BuildsFinished(ctx context.Context, limit int) ([]store.Build, error) {
	bs, err := all(ctx, q, scanBuild, `
		SELECT `+buildColumns+` FROM builds WHERE status IN ('done', 'error')
		ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	return bs, q.wrap(err, "finished builds")
}

func (q Queries) BuildFailures(ctx context.Context, since time.Time) ([]store.FailureCount, error) {
	fs, err := all(ctx, q, func(r Rows) (f store.FailureCount, err error) {
		err = r.Scan(&f.Reason, &f.Distribution, &f.Builds)
		return f, err
	}, `
		SELECT reason, distribution, COUNT(*) FROM builds
		WHERE status = 'error' AND created_at >= $1
		GROUP BY reason, distribution
		ORDER BY COUNT(*) DESC, reason, distribution`, since)
	return fs, q.wrap(err, "build failures")
}

func (q Queries) RequestKernels(ctx context.Context, since time.Time) ([]store.KernelCount, error) {
	ks, err := all(ctx, q, func(r Rows) (k store.KernelCount, err error) {
		err = r.Scan(&k.Distribution, &k.DistroVersion, &k.KernelVersion, &k.Architecture, &k.Requests, timeCol{&k.LastSeen})
		return k, err
	}, `
		SELECT distribution, distro_version, kernel_version, architecture, COUNT(*), MAX(received_at)
		FROM build_requests
		WHERE received_at >= $1 AND outcome <> 'invalid'
		GROUP BY distribution, distro_version, kernel_version, architecture
		ORDER BY COUNT(*) DESC, distribution, distro_version, kernel_version, architecture`, since)
	return ks, q.wrap(err, "requested kernels")
}

func (q Queries) ListingsOpen(ctx context.Context, limit int) ([]store.Listing, error) {
	ls, err := all(ctx, q, scanListing, `
		SELECT `+listingColumns+` FROM kernel_listings WHERE state IN ('pending', 'pr_open', 'checks_failed')
		ORDER BY created_at DESC, build_id DESC LIMIT $1`, limit)
	return ls, q.wrap(err, "open listings")
}
