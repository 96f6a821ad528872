package builds

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/riptides/driverbuild/ghclient"
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

func assetOf(tag string, a ghclient.Asset) store.Asset {
	return store.Asset{
		Tag: tag, Name: a.Name, AssetID: a.ID, DownloadURL: a.BrowserDownloadURL,
		Size: a.Size, Digest: a.Digest, DistroVersion: distroVersionOfLabel(a.Label),
	}
}

// confirmAsset finds the package of a build in the index, refreshing the
// release's listing from GitHub when it is not there yet. The distro
// version we built for is recorded when the asset's label does not say.
func (s *Service) confirmAsset(ctx context.Context, b store.Build) (store.Asset, bool, error) {
	a, err := s.store.AssetByName(ctx, b.DriverVersion, b.Package)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.RefreshTag(ctx, b.DriverVersion); err != nil {
			return store.Asset{}, false, err
		}
		a, err = s.store.AssetByName(ctx, b.DriverVersion, b.Package)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Asset{}, false, nil
	}
	if err != nil {
		return store.Asset{}, false, fmt.Errorf("look up asset: %w", err)
	}
	if a.DistroVersion == "" {
		a.DistroVersion = b.DistroVersion
		if err := s.store.AssetUpsert(ctx, a); err != nil {
			return store.Asset{}, false, fmt.Errorf("record asset distro version: %w", err)
		}
	}
	return a, true, nil
}

// RefreshTag revalidates one release's assets with a conditional request.
func (s *Service) RefreshTag(ctx context.Context, tag string) error {
	rel, err := s.store.ReleaseByTag(ctx, tag)
	if errors.Is(err, store.ErrNotFound) {
		return nil // no such release: nothing can be in it
	}
	if err != nil {
		return fmt.Errorf("load release: %w", err)
	}
	return s.refresh(ctx, rel)
}

// RefreshAll lists the releases and revalidates each one's assets. With
// nothing changed it costs one listing plus one 304 per release.
func (s *Service) RefreshAll(ctx context.Context) error {
	rels, err := s.gh.Releases(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rels {
		known, err := s.store.ReleaseByTag(ctx, r.Tag)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && known.ReleaseID != r.ID):
			known = store.Release{Tag: r.Tag, ReleaseID: r.ID}
		case err != nil:
			return fmt.Errorf("load release: %w", err)
		}
		if err := s.refresh(ctx, known); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) refresh(ctx context.Context, rel store.Release) error {
	list, etag, notModified, err := s.gh.Assets(ctx, rel.ReleaseID, rel.ETag)
	if err != nil {
		return err
	}
	rel.RefreshedAt = s.now()
	if !notModified {
		if err := s.replaceAssets(ctx, rel.Tag, list); err != nil {
			return err
		}
		rel.ETag = etag
	}
	if err := s.store.ReleaseUpsert(ctx, rel); err != nil {
		return fmt.Errorf("record release %s: %w", rel.Tag, err)
	}
	return nil
}

// replaceAssets stores a full listing, keeping the distro versions we
// recorded for assets whose labels do not carry one.
func (s *Service) replaceAssets(ctx context.Context, tag string, list []ghclient.Asset) error {
	assets := make([]store.Asset, 0, len(list))
	for _, a := range list {
		sa := assetOf(tag, a)
		sa.UpdatedAt = s.now()
		if sa.DistroVersion == "" {
			if old, err := s.store.AssetByName(ctx, tag, sa.Name); err == nil {
				sa.DistroVersion = old.DistroVersion
			}
		}
		assets = append(assets, sa)
	}
	if err := s.store.AssetsReplace(ctx, tag, assets); err != nil {
		return fmt.Errorf("store assets of %s: %w", tag, err)
	}
	return nil
}

// ReleaseEvent is the part of a release webhook the index uses.
type ReleaseEvent struct {
	ReleaseID int64
	Tag       string
	Assets    []ghclient.Asset
}

// ObserveRelease applies a release webhook about a release that exists
// (published, edited, ...): it becomes known with the assets the payload
// lists. Its ETag is dropped so
// the next refresh reads the listing in full.
func (s *Service) ObserveRelease(ctx context.Context, d *Delivery, e ReleaseEvent) error {
	if err := s.apply(ctx, d, func(tx store.Tx) error {
		return tx.ReleaseUpsert(ctx, store.Release{Tag: e.Tag, ReleaseID: e.ReleaseID, RefreshedAt: s.now()})
	}); err != nil {
		return err
	}
	return s.replaceAssets(ctx, e.Tag, e.Assets)
}
