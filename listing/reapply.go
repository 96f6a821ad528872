package listing

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riptides/driverbuild/store"
)

// reapplyRounds bounds how often one Reapply starts over because the
// default branch moved while it worked.
const reapplyRounds = 5

// reapplyPerPush is how many branches one push to the default branch
// re-applies (see Reapply). Every merge leaves the other pull
// requests behind again, so only one of those re-applied merges next and
// the rest are re-applied anew after it: re-applying all N open ones per
// merge cost N² pushes and check runs in a storm of new kernels, and
// starved the service of its database. Two: the one next in line, and
// one more, so that a check failing does not cost a round (and a branch
// whose check fails sets off a re-apply of the next). Each
// re-applied branch is six API calls and a check run, and eight per
// push merged no faster than two (50 kernels at once: 2,300 API requests
// against 4,400, merged as soon); the reconcile job re-applies too.
const reapplyPerPush = 2

// unsettledLimit bounds the unsettled listings one pass looks at.
const unsettledLimit = 1000

// Reapply re-applies the change of a few open branches that do not sit
// on the head of the default branch: the kernels are added to the file
// there (a semantic merge, not a text merge) and the branch is
// force-updated, so that its checks run again. What a push to the
// default branch sets off.
func (s *Service) Reapply(ctx context.Context) error {
	var last string
	for range reapplyRounds {
		// The branches first: with none open, an idle service asks GitHub
		// nothing.
		ls, err := s.store.ListingsUnsettled(ctx, s.now(), unsettledLimit)
		if err != nil || len(ls) == 0 {
			return err
		}
		base, err := s.readBase(ctx)
		if err != nil {
			return err
		}
		if base.head == last {
			return nil
		}
		last = base.head
		// Half of the turns go to the oldest, the rest to those that went
		// longest without a change (a push from us, mostly), so that old
		// pull requests whose checks never report do not take them all.
		oldest, byChange := turns(ls)
		pushed, tried, err := s.reapplyUpTo(ctx, oldest, base, reapplyPerPush/2)
		byChange = slices.DeleteFunc(byChange, func(b string) bool { return slices.Contains(tried, b) })
		_, _, rerr := s.reapplyUpTo(ctx, byChange, base, reapplyPerPush-pushed)
		if err := errors.Join(err, rerr); err != nil {
			return err
		}
	}
	return nil
}

// reapplyUpTo re-applies branches in their order, a few at once, until n
// were pushed (branches on the base's head take no turn), and says how
// many were and which it looked at. One failing does not hold up the
// others.
func (s *Service) reapplyUpTo(ctx context.Context, branches []string, base baseFile, n int) (pushed int, tried []string, err error) {
	var errs []error
	for len(branches) > 0 && pushed < n {
		chunk := branches[:min(len(branches), n-pushed)]
		branches = branches[len(chunk):]
		did, err := s.reapplyAll(ctx, chunk, base)
		errs = append(errs, err)
		pushed += did
		tried = append(tried, chunk...)
	}
	return pushed, tried, errors.Join(errs...)
}

// reapplyAll re-applies the branches at once and says how many it pushed.
func (s *Service) reapplyAll(ctx context.Context, branches []string, base baseFile) (int, error) {
	errs := make([]error, len(branches))
	var pushed atomic.Int64
	var wg sync.WaitGroup
	for i, name := range branches {
		wg.Go(func() {
			var did bool
			did, errs[i] = s.reapplyBranch(ctx, name, base)
			if did {
				pushed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(pushed.Load()), errors.Join(errs...)
}

// reapplyBranch re-applies one branch, when it is behind the base.
func (s *Service) reapplyBranch(ctx context.Context, name string, base baseFile) (pushed bool, err error) {
	br, ok, err := s.loadBranch(ctx, name)
	if err != nil || !ok || br.first().State != store.ListingPROpen {
		// Pending branches are being made on the new head anyway; a
		// failed check is not retried by every push to the default branch.
		return false, err
	}
	// The head is the one we pushed, unless nobody told us of it.
	head := br.first().HeadSHA
	if head == "" {
		var found bool
		if head, found, err = s.gh.BranchHead(ctx, name); err != nil || !found {
			return false, err
		}
	}
	parent, err := s.gh.Parent(ctx, head)
	if err != nil || parent == base.head {
		return false, err
	}
	_, err = s.apply(ctx, br, base, true)
	if errors.Is(err, errNothingToAdd) {
		// Listed on the default branch: most likely our own merge of this
		// very branch, whose end is being written. Land settles it.
		return false, nil
	}
	return err == nil, err
}

// turns are the branches of unsettled listings (oldest first) in the two
// orders Reapply gives them turns: oldest first, and longest without a
// change first.
func turns(ls []store.Listing) (oldest, byChange []string) {
	byUpdate := slices.Clone(ls)
	slices.SortStableFunc(byUpdate, func(a, b store.Listing) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	return branchesOf(ls), branchesOf(byUpdate)
}

// unsettledBranches lists the branches with pending or open listings
// created before the time, oldest first; builds waiting for their batch
// have none yet, and are not listed.
func (s *Service) unsettledBranches(ctx context.Context, before time.Time) ([]string, error) {
	ls, err := s.store.ListingsUnsettled(ctx, before, unsettledLimit)
	if err != nil {
		return nil, err
	}
	return branchesOf(ls), nil
}

// branchesOf lists the branches of listings in their order, once each.
func branchesOf(ls []store.Listing) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range ls {
		if !seen[l.Branch] && l.Branch != "" {
			out = append(out, l.Branch)
		}
		seen[l.Branch] = true
	}
	return out
}

// Reconcile moves every unsettled listing created before the time as far
// as GitHub's state allows: it covers lost webhooks (a push, a check) and
// a restart in the middle of any step.
func (s *Service) Reconcile(ctx context.Context, before time.Time) error {
	if err := s.Seal(ctx); err != nil {
		return err
	}
	branches, err := s.unsettledBranches(ctx, before)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range branches {
		errs = append(errs, s.reconcileBranch(ctx, name))
	}
	errs = append(errs, s.Reapply(ctx))
	return errors.Join(errs...)
}

func (s *Service) reconcileBranch(ctx context.Context, name string) error {
	if err := s.ensureBranch(ctx, name); err != nil {
		return err
	}
	br, ok, err := s.loadBranch(ctx, name)
	if err != nil || !ok || br.first().State.Settled() {
		return err
	}
	if br.first().State == store.ListingPending {
		if err := s.OpenPull(ctx, name); err != nil {
			return err
		}
	}
	return s.land(ctx, name, "", 1, true)
}
