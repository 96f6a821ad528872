package listing

import (
	"context"
	"errors"
	"fmt"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/matrix"
	"github.com/riptides/driverbuild/store"
)

// Propose makes sure a done build's kernel is on its way into
// kernels.json: already listed on the default branch, or carried by its
// branch (or, when batching, waiting for its batch). It is safe to repeat.
func (s *Service) Propose(ctx context.Context, buildID string) error {
	b, err := s.store.BuildByID(ctx, buildID)
	if err != nil {
		return fmt.Errorf("load build: %w", err)
	}
	if b.Status != lifecycle.StatusDone {
		return nil
	}
	l, err := s.store.ListingByBuild(ctx, buildID)
	switch {
	case err == nil && l.Branch != "" && !l.State.Settled():
		return s.ensureBranch(ctx, l.Branch) // a retry after the row was written
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	k, err := s.readBaseKernels(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	l = store.Listing{BuildID: b.ID, State: store.ListingPending, CreatedAt: now, UpdatedAt: now}
	if k.Lists(s.cfg.Catalog, b.Request) {
		l.State = store.ListingAlreadyListed
		return s.store.ListingPut(ctx, l)
	}
	if s.cfg.BatchWindow > 0 {
		return s.joinBatch(ctx, l)
	}
	l.Branch = BranchFor(b.Request)
	br, ok, err := s.loadBranch(ctx, l.Branch)
	if err != nil {
		return err
	}
	if ok && br.proposes(b.Request) {
		// A build of the kernel for another driver version proposes it
		// already: this one says what that proposal says (its pull
		// request's checks may have failed), and goes where it goes.
		f := br.first()
		l.State, l.PRNumber, l.PRURL, l.HeadSHA = f.State, f.PRNumber, f.PRURL, f.HeadSHA
		return s.store.ListingPut(ctx, l)
	}
	if err := s.store.ListingPut(ctx, l); err != nil {
		return err
	}
	return s.ensureBranch(ctx, l.Branch)
}

// joinBatch leaves a build for the batch open now, and makes sure the
// batch is sealed when the window of its first build ends.
func (s *Service) joinBatch(ctx context.Context, l store.Listing) error {
	return s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.ListingPut(ctx, l); err != nil {
			return err
		}
		waiting, err := tx.ListingsOfBranch(ctx, "")
		if err != nil {
			return err
		}
		first := l.CreatedAt
		for _, w := range waiting {
			if w.State == store.ListingPending && w.CreatedAt.Before(first) {
				first = w.CreatedAt
			}
		}
		return tx.InsertJob(ctx, SealArgs{}, scheduledAt(first.Add(s.cfg.BatchWindow)))
	})
}

// Seal puts the builds waiting for a batch on the batch's branch, once
// the window of the first has ended.
func (s *Service) Seal(ctx context.Context) error {
	waiting, err := s.store.ListingsOfBranch(ctx, "")
	if err != nil {
		return err
	}
	var first *store.Listing
	for i, w := range waiting {
		if w.State == store.ListingPending {
			first = &waiting[i]
			break
		}
	}
	if first == nil {
		return nil
	}
	if s.now().Before(first.CreatedAt.Add(s.cfg.BatchWindow)) {
		return nil // the job scheduled for the first build's window seals it
	}
	branch := BatchBranch(first.BuildID)
	if err := s.set(ctx, store.ListingsUpdate{Branch: "", ToBranch: branch}); err != nil {
		return err
	}
	return s.ensureBranch(ctx, branch)
}

// ensureBranch makes sure a branch exists and adds every kernel of its
// builds: made on the head of the default branch when missing, made again
// there when a build joined it after it was made.
func (s *Service) ensureBranch(ctx context.Context, name string) error {
	br, ok, err := s.loadBranch(ctx, name)
	if err != nil || !ok || br.first().State.Settled() {
		return err
	}
	head, found, err := s.gh.BranchHead(ctx, name)
	if err != nil {
		return err
	}
	if found {
		data, _, err := s.gh.File(ctx, head, s.cfg.Path)
		if err != nil && !ghclient.IsNotFound(err) {
			return err
		}
		if err == nil {
			if out, _, err := matrix.MergeKernels(s.cfg.Catalog, data, br.requests()); err == nil && out == nil {
				if br.first().HeadSHA != head {
					return s.set(ctx, store.ListingsUpdate{Branch: name, HeadSHA: head})
				}
				return nil
			}
		}
	}
	base, err := s.readBase(ctx)
	if err != nil {
		return err
	}
	_, err = s.apply(ctx, br, base, found)
	if errors.Is(err, errNothingToAdd) {
		// The default branch lists every kernel already: listed by hand,
		// or our merge landed before the state was written.
		return s.settleListed(ctx, br)
	}
	return err
}

var errNothingToAdd = errors.New("the default branch lists every kernel of the branch")

// apply commits the branch's kernels onto the head of the default branch,
// a semantic merge of the file, and points the branch there: created, or
// force-updated so that its checks run again.
func (s *Service) apply(ctx context.Context, br branchOf, base baseFile, exists bool) (string, error) {
	out, added, err := matrix.MergeKernels(s.cfg.Catalog, base.data, br.requests())
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", s.cfg.Path, s.cfg.Base, err)
	}
	if out == nil {
		return "", errNothingToAdd
	}
	sha, err := s.gh.CommitFile(ctx, base.head, s.cfg.Path, out, commitMessage(added))
	if err != nil {
		return "", err
	}
	if exists {
		err = s.gh.ForceBranch(ctx, br.name, sha)
	} else {
		err = s.gh.CreateBranch(ctx, br.name, sha)
	}
	if errors.Is(err, ghclient.ErrBranchExists) {
		// A concurrent attempt made the branch, perhaps without a kernel
		// that joined since: the retry finds the branch and completes it.
		return "", fmt.Errorf("branch %s made meanwhile: %w", br.name, errNotYet)
	}
	if err != nil {
		return "", err
	}
	logFor(ctx, br.name).Info().Str("sha", sha).Str("base", base.head).Bool("updated", exists).Int("kernels", len(added)).Msg("proposed kernels on branch")
	return sha, s.set(ctx, store.ListingsUpdate{Branch: br.name, HeadSHA: sha})
}

// settleListed ends the listings of a branch whose kernels the default
// branch lists without its pull request: merged if the pull request
// merged, already listed otherwise.
func (s *Service) settleListed(ctx context.Context, br branchOf) error {
	prs, err := s.gh.PullsOf(ctx, br.name, "all")
	if err != nil {
		return err
	}
	for _, pr := range prs {
		if pr.Merged {
			return s.merged(ctx, br, pr)
		}
	}
	// Its pull request, if any, closes with it; a branch left behind is
	// only clutter, so a failure does not hold the builds up.
	if err := s.gh.DeleteBranch(ctx, br.name); err != nil {
		logFor(ctx, br.name).Warn().Err(err).Msg("delete branch")
	}
	return s.set(ctx, store.ListingsUpdate{Branch: br.name, State: store.ListingAlreadyListed})
}
