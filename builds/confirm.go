package builds

import (
	"context"
	"errors"
	"fmt"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Confirm looks for the package of a build whose run succeeded, refreshing
// the release's listing from GitHub, and ends the build: done when the
// package is there, package_missing when it is still not there on the
// final attempt. Otherwise it returns an error, for the job to retry.
func (s *Service) Confirm(ctx context.Context, buildID string, src lifecycle.Source, final bool) error {
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	if b.Status != lifecycle.StatusInProgress {
		return nil
	}
	release := kernel.ReleaseTag(b.DriverVersion, b.Package)
	if err := s.refreshFor(ctx, b, release); err != nil {
		return err
	}
	var ended store.Build
	var changed bool
	confirmedIn := release
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		p := lifecycle.Transition{
			ID: b.ID, From: lifecycle.StatusInProgress, To: lifecycle.StatusDone, Source: src, Now: s.now(),
		}
		asset, found, err := s.indexedAsset(ctx, tx, b)
		switch {
		case err != nil:
			return err
		case found:
			confirmedIn = asset.Tag
			p.DownloadURL, p.Digest, p.Progress = asset.DownloadURL, asset.Digest, "package confirmed in the release"
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
