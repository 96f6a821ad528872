package builds

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Confirm looks for the package of a build whose run succeeded and ends
// the build: done when the package is there, package_missing when it is
// still not there on the final attempt. Otherwise it returns an error,
// for the job to retry.
//
// The package is looked for at its download URL first, beside its
// .sha256: two requests and no API call, whatever the size of the
// release. Where that finds nothing (downloads that need credentials, a
// package published before shards), the release's listing is read again.
func (s *Service) Confirm(ctx context.Context, buildID string, src lifecycle.Source, final bool) error {
	return s.confirm(ctx, buildID, src, final, true)
}

// confirm is Confirm; ask is false when the download URL said a moment
// ago that the package is not there, which asking again would not change.
func (s *Service) confirm(ctx context.Context, buildID string, src lifecycle.Source, final, ask bool) error {
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	if b.Status != lifecycle.StatusInProgress {
		return nil
	}
	release := kernel.ReleaseTag(b.DriverVersion, b.Package)
	// A refresh whose listing was read before the upload keeps what this
	// records (see AssetsReplace).
	var seen *store.Asset
	if ask {
		seen, _ = s.published(ctx, b, release)
	}
	if seen == nil {
		if err := s.refreshFor(ctx, b, release); err != nil {
			return err
		}
	}
	var ended store.Build
	var changed bool
	confirmedIn := release
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		p := lifecycle.Transition{
			ID: b.ID, From: lifecycle.StatusInProgress, To: lifecycle.StatusDone, Source: src, Now: s.now(),
		}
		asset, found, err := s.indexedAsset(ctx, tx, b, seen)
		switch {
		case err != nil:
			return err
		case found:
			confirmedIn = asset.Tag
			p.DownloadURL, p.Digest, p.Progress = asset.DownloadURL, asset.Digest, confirmed
			p.Detail = fmt.Sprintf("run %d succeeded; %s is in release %s", b.RunID, b.Package, asset.Tag)
		case final:
			p.To, p.Reason, p.Progress = lifecycle.StatusError, lifecycle.ReasonPackageMissing, "package missing from the release"
			p.Detail = fmt.Sprintf("run %d succeeded, but release %s has no %s", b.RunID, release, b.Package)
		default:
			return fmt.Errorf("release %s has no %s yet", release, b.Package)
		}
		ended, changed, err = s.transition(ctx, tx, p)
		return err
	})
	if err == nil {
		s.assetsChanged(ctx, confirmedIn) // its distro version may have been recorded
		s.finished(ended, changed)
	}
	return err
}

// published looks for a build's package at its download URL in release,
// and returns the asset to record when it is there. Otherwise absent says
// whether the download URL answered that it is not: a release the index
// does not know yet (a shard the build created) is not looked at, so that
// the caller reads its listing and records it with its id, and a failure
// to ask is no answer either.
func (s *Service) published(ctx context.Context, b store.Build, release string) (seen *store.Asset, absent bool) {
	if _, err := s.store.ReleaseByTag(ctx, release); err != nil {
		return nil, false
	}
	digest, found, err := s.gh.Published(ctx, release, b.Package)
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Str("build_id", b.ID).Msg("look for the package at its download URL; reading the release instead")
		return nil, false
	}
	if !found {
		return nil, true
	}
	return &store.Asset{
		Tag: release, Name: b.Package, DownloadURL: s.gh.DownloadURL(release, b.Package), Digest: digest,
		DistroVersion: b.DistroVersion,
	}, false
}

// refreshFor reads the release a build's package goes to and, when the
// package is not there, the driver version's own release, where a build
// workflow from before shards (still on a branch, or ghsim's) puts it.
func (s *Service) refreshFor(ctx context.Context, b store.Build, release string) error {
	if err := s.RefreshTag(ctx, release); err != nil || release == b.DriverVersion {
		return err
	}
	_, err := s.store.AssetByName(ctx, release, b.Package)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.RefreshTag(ctx, b.DriverVersion)
}
