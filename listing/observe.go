package listing

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/store"
)

// The webhooks record their delivery and enqueue the job that acts, in one
// transaction: the handler answers once both are saved, and never waits
// on GitHub.

func (s *Service) enqueue(ctx context.Context, d *builds.Delivery, args ...river.JobArgs) error {
	return s.cfg.Apply(ctx, d, func(tx store.Tx) error {
		if !s.Enabled() {
			return nil
		}
		for _, a := range args {
			if err := tx.InsertJob(ctx, a, nil); err != nil {
				return fmt.Errorf("enqueue %s: %w", a.Kind(), err)
			}
		}
		return nil
	})
}

// ObservePush hears of a push: to the default branch, the open branches
// are re-applied onto it; to a branch of ours, its pull request is
// opened. A deleted branch (ours, once merged) needs nothing.
func (s *Service) ObservePush(ctx context.Context, d *builds.Delivery, branch, sha string, deleted bool) error {
	switch {
	case deleted:
		return s.enqueue(ctx, d)
	case branch == s.cfg.Base:
		return s.enqueue(ctx, d, ReapplyArgs{})
	case Ours(branch):
		return s.enqueue(ctx, d, OpenPullArgs{Branch: branch, SHA: sha})
	}
	return s.enqueue(ctx, d)
}

// ObserveCheck hears that a check, a check suite or a commit status of a
// head of a branch completed.
func (s *Service) ObserveCheck(ctx context.Context, d *builds.Delivery, branch, sha, check string) error {
	if !Ours(branch) {
		return s.enqueue(ctx, d)
	}
	return s.enqueue(ctx, d, LandArgs{Branch: branch, SHA: sha, Check: check})
}

// ObservePull hears of a pull request of a branch: its number is noted
// when it opens, and a merge (ours, or a person's) settles the branch.
func (s *Service) ObservePull(ctx context.Context, d *builds.Delivery, action string, pr ghclient.PullRequest) error {
	if !Ours(pr.HeadRef) || pr.BaseRef != s.cfg.Base {
		return s.enqueue(ctx, d)
	}
	return s.cfg.Apply(ctx, d, func(tx store.Tx) error {
		if !s.Enabled() {
			return nil
		}
		switch {
		case action == "closed" && pr.Merged:
			return tx.InsertJob(ctx, LandArgs{Branch: pr.HeadRef, SHA: pr.HeadSHA, Check: "merged"}, nil)
		case action == "opened" || action == "reopened":
			ls, err := tx.ListingsOfBranch(ctx, pr.HeadRef)
			if err != nil || len(ls) == 0 || ls[0].State.Settled() {
				return err
			}
			_, err = tx.ListingsSet(ctx, store.ListingsUpdate{Branch: pr.HeadRef, State: store.ListingPROpen, PRNumber: pr.Number, PRURL: pr.URL, Now: s.now()})
			return err
		}
		return nil
	})
}
