package builds

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
)

// The asset index is the database's copy of the release assets, so that a
// request for an existing package costs no GitHub call. Release webhooks,
// completed builds and a periodic conditional (ETag) refresh keep it fresh.

// labelRe reads the label driver-build.yml gives a package asset,
// "{distribution} {distro_version}": the distro version it was built for.
var labelRe = regexp.MustCompile(`^([a-z][a-z0-9]*) ([a-z0-9][a-z0-9.]*)$`)

func distroVersionOfLabel(label string) string {
	m := labelRe.FindStringSubmatch(strings.TrimSpace(label))
	if m == nil {
		return ""
	}
	return m[2]
}

// assetLookup is the store's one asset read, in or out of a transaction.
type assetLookup interface {
	AssetByName(ctx context.Context, tag, name string) (store.Asset, error)
}

// assetOf finds a package of a driver version in the index: in the release
// kernel.ReleaseTag puts it in, else in the driver version's own release,
// which holds what was published before the version had shards.
func assetOf(ctx context.Context, q assetLookup, driverVersion, pkg string) (store.Asset, error) {
	tag := kernel.ReleaseTag(driverVersion, pkg)
	a, err := q.AssetByName(ctx, tag, pkg)
	if errors.Is(err, store.ErrNotFound) && tag != driverVersion {
		a, err = q.AssetByName(ctx, driverVersion, pkg)
	}
	return a, err
}

// indexedAsset finds a build's package in the index. The distro version we
// built for is recorded when the asset's label did not say. Where the
// index lacks it, seen (what the package's download URL showed, nil if
// not looked at) is recorded, dated on the database's clock as a refresh's
// listing is: what the index holds, a refresh's listing with the asset's
// id and size, is kept.
func (s *Service) indexedAsset(ctx context.Context, q store.Queries, b store.Build, seen *store.Asset) (store.Asset, bool, error) {
	a, err := assetOf(ctx, q, b.DriverVersion, b.Package)
	switch {
	case errors.Is(err, store.ErrNotFound) && seen == nil:
		return store.Asset{}, false, nil
	case errors.Is(err, store.ErrNotFound):
		a = *seen
		if a.UpdatedAt, err = q.Clock(ctx); err != nil {
			return store.Asset{}, false, err
		}
		if err := q.AssetUpsert(ctx, a); err != nil {
			return store.Asset{}, false, fmt.Errorf("record asset: %w", err)
		}
		return a, true, nil
	case err != nil:
		return store.Asset{}, false, fmt.Errorf("look up asset: %w", err)
	}
	if a.DistroVersion == "" {
		a.DistroVersion = b.DistroVersion
		if err := q.AssetUpsert(ctx, a); err != nil {
			return store.Asset{}, false, fmt.Errorf("record asset distro version: %w", err)
		}
	}
	return a, true, nil
}

// RefreshTag revalidates one release's assets with a conditional request.
// A shard the index does not know yet, which a build may have just
// created (before its release webhook came), is looked for in GitHub's
// listing of releases.
func (s *Service) RefreshTag(ctx context.Context, tag string) error {
	rel, err := s.store.ReleaseByTag(ctx, tag)
	if errors.Is(err, store.ErrNotFound) {
		if _, shard, _ := kernel.DriverVersionOfTag(tag); shard == 0 {
			return nil // no such release: nothing can be in it
		}
		var found bool
		if rel, found, err = s.listedRelease(ctx, tag); err != nil || !found {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("load release: %w", err)
	}
	return s.refresh(ctx, rel)
}

// listedRelease finds a release in GitHub's listing and records it.
func (s *Service) listedRelease(ctx context.Context, tag string) (store.Release, bool, error) {
	rels, err := s.gh.Releases(ctx)
	if err != nil {
		return store.Release{}, false, err
	}
	for _, r := range rels {
		if r.Tag == tag {
			rel := store.Release{Tag: r.Tag, ReleaseID: r.ID}
			if err := s.store.ReleaseUpsert(ctx, rel); err != nil {
				return store.Release{}, false, fmt.Errorf("record release %s: %w", tag, err)
			}
			return rel, true, nil
		}
	}
	return store.Release{}, false, nil
}

// RefreshAll lists the releases, forgets those that are gone, and
// revalidates each one's assets. With nothing changed it costs one listing
// plus one 304 per release of up to 100 assets.
func (s *Service) RefreshAll(ctx context.Context) error {
	// The stored tags are read before GitHub is asked, so that a release a
	// webhook adds meanwhile is not taken for one that is gone.
	known, err := s.store.ReleaseTags(ctx)
	if err != nil {
		return fmt.Errorf("list stored releases: %w", err)
	}
	rels, err := s.gh.Releases(ctx)
	if err != nil {
		return err
	}
	listed := make([]string, len(rels))
	for i, r := range rels {
		listed[i] = r.Tag
	}
	for _, tag := range known {
		if !slices.Contains(listed, tag) {
			if err := s.store.ReleaseDelete(ctx, tag); err != nil {
				return fmt.Errorf("forget release %s: %w", tag, err)
			}
			s.assetsChanged(ctx, tag)
		}
	}
	// Every release is recorded before any asset listing, so that one
	// listing failing makes its release "not read yet" (503), not unknown.
	toRefresh := make([]store.Release, 0, len(rels))
	for _, r := range rels {
		rel, err := s.store.ReleaseByTag(ctx, r.Tag)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && rel.ReleaseID != r.ID):
			rel = store.Release{Tag: r.Tag, ReleaseID: r.ID}
			if err := s.store.ReleaseUpsert(ctx, rel); err != nil {
				return fmt.Errorf("record release %s: %w", r.Tag, err)
			}
		case err != nil:
			return fmt.Errorf("load release: %w", err)
		}
		toRefresh = append(toRefresh, rel)
	}
	s.indexed.Store(true) // which releases exist is known now
	var errs []error
	for _, rel := range toRefresh {
		if err := s.refresh(ctx, rel); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) refresh(ctx context.Context, rel store.Release) error {
	// Refreshes of one release may run at once, here or on other
	// replicas: an asset stored after this listing is read stays (see
	// AssetsReplace), the stamps being on the database's clock. The one
	// that commits last may store the older listing's ETag, which costs
	// the next refresh a full read, no more.
	listedAt, err := s.store.Clock(ctx)
	if err != nil {
		return err
	}
	list, etag, notModified, err := s.gh.Assets(ctx, rel.ReleaseID, rel.ETag)
	if err != nil {
		return err
	}
	rel.RefreshedAt = s.now()
	defer s.assetsChanged(ctx, rel.Tag)
	return s.store.InTx(ctx, func(tx store.Tx) error {
		if !notModified {
			kept, err := s.replaceAssets(ctx, tx, rel.Tag, list, listedAt)
			if err != nil {
				return err
			}
			// What the index kept is read in full next time, not answered
			// 304 for as long as the release is quiet: gone, it goes.
			if rel.ETag = etag; kept {
				rel.ETag = ""
			}
		}
		if err := tx.ReleaseUpsert(ctx, rel); err != nil {
			return fmt.Errorf("record release %s: %w", rel.Tag, err)
		}
		return nil
	})
}

// replaceAssets stores a full listing of uploaded assets read at listedAt,
// keeping the distro versions we recorded for assets whose labels do not
// carry one. kept says whether the index keeps assets the listing lacks,
// stored since it was read.
func (s *Service) replaceAssets(ctx context.Context, q store.Queries, tag string, list []ghclient.Asset, listedAt time.Time) (kept bool, err error) {
	held, err := heldAssets(ctx, q, tag)
	if err != nil {
		return false, err
	}
	assets := uploaded(tag, list, listedAt)
	for i, a := range assets {
		if old, ok := held[a.Name]; ok && a.DistroVersion == "" {
			assets[i].DistroVersion = old.DistroVersion
		}
	}
	if kept, err = q.AssetsReplace(ctx, tag, assets, listedAt); err != nil {
		return false, fmt.Errorf("store assets of %s: %w", tag, err)
	}
	return kept, nil
}

// addAssets stores what a listing as of at says that the index lacks:
// assets it does not hold, and uploads newer than the ones it holds
// (GitHub's asset ids grow). It deletes none: the listing may be older
// than the index (a release webhook delivered late, or again, lists what
// its release held before the packages uploaded since). A deletion is
// for the next refresh to find.
func (s *Service) addAssets(ctx context.Context, q store.Queries, tag string, list []ghclient.Asset, at time.Time) error {
	held, err := heldAssets(ctx, q, tag)
	if err != nil {
		return err
	}
	for _, a := range uploaded(tag, list, at) {
		if h, ok := held[a.Name]; ok && (h.AssetID == 0 || a.AssetID <= h.AssetID) {
			continue // ours, or no newer than ours
		}
		if err := q.AssetUpsert(ctx, a); err != nil {
			return fmt.Errorf("store asset %s/%s: %w", tag, a.Name, err)
		}
	}
	return nil
}

// heldAssets are the assets the index holds of a release, by name.
func heldAssets(ctx context.Context, q store.Queries, tag string) (map[string]store.Asset, error) {
	as, err := q.AssetsOfTag(ctx, tag)
	if err != nil {
		return nil, fmt.Errorf("load assets of %s: %w", tag, err)
	}
	held := make(map[string]store.Asset, len(as))
	for _, a := range as {
		held[a.Name] = a
	}
	return held, nil
}

// uploaded are the assets of a listing as of at that are packages: an
// upload in progress or failed is none yet.
func uploaded(tag string, list []ghclient.Asset, at time.Time) []store.Asset {
	assets := make([]store.Asset, 0, len(list))
	for _, a := range list {
		if a.State != "" && a.State != "uploaded" {
			continue
		}
		assets = append(assets, store.Asset{
			Tag: tag, Name: a.Name, AssetID: a.ID, DownloadURL: a.BrowserDownloadURL, Size: a.Size,
			Digest: a.Digest, DistroVersion: distroVersionOfLabel(a.Label), UpdatedAt: at,
		})
	}
	return assets
}

// ReleaseEvent is the part of a release webhook the index uses.
type ReleaseEvent struct {
	ReleaseID int64
	Tag       string
	Assets    []ghclient.Asset
	// Gone is set when the release was deleted or unpublished.
	Gone bool
}

// ObserveRelease applies a release webhook with its delivery, in one
// transaction. A payload about a release older than the one known under
// its tag (GitHub's release ids grow: a late delivery about a release
// since deleted and made anew) changes nothing. Otherwise a release that
// is gone is forgotten with its assets; one that exists becomes known,
// its ETag dropped so that the next refresh reads it in full, with the
// assets the payload lists that the index lacks, or, for a release new
// to the index, exactly those.
func (s *Service) ObserveRelease(ctx context.Context, d *Delivery, e ReleaseEvent) error {
	defer s.assetsChanged(ctx, e.Tag)
	return s.apply(ctx, d, func(tx store.Tx) error {
		known, err := tx.ReleaseByTag(ctx, e.Tag)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case e.ReleaseID < known.ReleaseID:
			return nil
		}
		if e.Gone {
			return tx.ReleaseDelete(ctx, e.Tag)
		}
		if err := tx.ReleaseUpsert(ctx, store.Release{Tag: e.Tag, ReleaseID: e.ReleaseID, RefreshedAt: s.now()}); err != nil {
			return err
		}
		now, err := tx.Clock(ctx)
		if err != nil {
			return err
		}
		if known.ReleaseID != e.ReleaseID {
			_, err := s.replaceAssets(ctx, tx, e.Tag, e.Assets, now)
			return err
		}
		return s.addAssets(ctx, tx, e.Tag, e.Assets, now)
	})
}
