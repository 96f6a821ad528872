package listing

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/store"
)

// OpenPull makes sure a branch of ours has its pull request open: what a
// push to it sets off. It never merges: the checks of the new head have
// not run.
func (s *Service) OpenPull(ctx context.Context, name string) error {
	br, ok, err := s.loadBranch(ctx, name)
	if err != nil || !ok || br.first().State == store.ListingMerged {
		return err
	}
	pr, err := s.openPull(ctx, br)
	if err != nil {
		return err
	}
	// A new head has new checks: a failure of the last head is history.
	return s.set(ctx, store.ListingsUpdate{Branch: name, State: store.ListingPROpen, PRNumber: pr.Number, PRURL: pr.URL})
}

// openPull returns the branch's open pull request, opening it if needed.
func (s *Service) openPull(ctx context.Context, br branchOf) (ghclient.PullRequest, error) {
	if prs, err := s.gh.PullsOf(ctx, br.name, "open"); err != nil || len(prs) > 0 {
		if err != nil {
			return ghclient.PullRequest{}, err
		}
		return prs[0], nil
	}
	pr, err := s.gh.OpenPull(ctx, br.name, s.cfg.Base, title(br.builds), body(br.builds))
	if errors.Is(err, ghclient.ErrPullExists) {
		// Opened between the list and the create, by a concurrent job.
		prs, err := s.gh.PullsOf(ctx, br.name, "open")
		if err != nil || len(prs) == 0 {
			return ghclient.PullRequest{}, errors.Join(err, errNotYet)
		}
		return prs[0], nil
	}
	if err == nil {
		logFor(ctx, br.name).Info().Int("pr", pr.Number).Msg("opened pull request")
	}
	return pr, err
}

// mergeabilityPolls bounds the reads of a pull request whose
// mergeability GitHub computes, 100ms apart and doubling, before the job
// gives up its attempt.
const mergeabilityPolls = 4

// awaitMergeability reads a pull request until GitHub says whether it
// merges.
func (s *Service) awaitMergeability(ctx context.Context, number int) (ghclient.PullRequest, error) {
	wait := 100 * time.Millisecond
	for range mergeabilityPolls {
		select {
		case <-ctx.Done():
			return ghclient.PullRequest{}, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
		pr, err := s.gh.Pull(ctx, number)
		if err != nil || pr.Mergeable != nil {
			return pr, err
		}
	}
	return ghclient.PullRequest{}, errMergeability
}

// errMergeability means GitHub was still computing whether the pull
// request merges: the job polls again, a bounded number of times.
var errMergeability = errors.New("mergeability not computed yet")

// errBaseModified is GitHub's 405 when the base moved under a merge: the
// job tries again with backoff.
var errBaseModified = errors.New("base branch was modified during the merge")

// Land merges a branch's pull request once every required check of its
// head passed: what a check webhook sets off, and reconcile. sha, when
// set, is the head the event was about; an event about an older head is
// ignored. reevaluate bounds the re-evaluations after a 409.
func (s *Service) Land(ctx context.Context, name, sha string) error {
	return s.land(ctx, name, sha, 1, false)
}

// land is Land; reconciling says reconcile asks, which waits after a
// refused merge (see refusals).
func (s *Service) land(ctx context.Context, name, sha string, reevaluate int, reconciling bool) error {
	br, ok, err := s.loadBranch(ctx, name)
	if err != nil || !ok || br.first().State == store.ListingMerged {
		return err
	}
	log := logFor(ctx, name)
	first := br.first()
	if sha != "" && first.HeadSHA != "" && sha != first.HeadSHA {
		log.Debug().Str("sha", sha).Str("head", first.HeadSHA).Msg("check of an older head; ignored")
		return nil
	}
	if reconciling && !s.refused.due(name, first.HeadSHA, s.now()) {
		return nil // GitHub refused this head's merge a moment ago
	}
	var pr ghclient.PullRequest
	if first.PRNumber != 0 {
		pr, err = s.gh.Pull(ctx, first.PRNumber)
	} else {
		var prs []ghclient.PullRequest
		prs, err = s.gh.PullsOf(ctx, name, "open")
		if err == nil && len(prs) == 0 {
			return nil // no pull request yet: its push opens it
		}
		if err == nil {
			pr = prs[0]
		}
	}
	if err != nil {
		return err
	}
	switch {
	case pr.Merged:
		return s.merged(ctx, br, pr)
	case pr.State != "open":
		log.Warn().Int("pr", pr.Number).Msg("pull request closed without merging; left alone")
		return nil
	case first.HeadSHA == "" || pr.HeadSHA != first.HeadSHA:
		// Only the commit the service pushed is merged: a pull request
		// of a fork's branch of the same name, or a head someone else
		// pushed, has checks of its own but not our content. Reconcile
		// notes what we pushed when it was not written.
		log.Warn().Int("pr", pr.Number).Str("head", pr.HeadSHA).Str("pushed", first.HeadSHA).
			Msg("the pull request's head is not the commit the service pushed; not merging")
		return nil
	}
	v, err := s.decider.Decide(ctx, s.cfg.Base, pr.HeadSHA)
	if err != nil {
		return err
	}
	switch {
	case len(v.Failed) > 0:
		u := store.ListingsUpdate{Branch: name, State: store.ListingChecksFailed, PRNumber: pr.Number, PRURL: pr.URL, Now: s.now()}
		if first.State == store.ListingChecksFailed {
			return s.set(ctx, u)
		}
		log.Warn().Int("pr", pr.Number).Strs("failed", v.Failed).Msg("required checks failed; the pull request stays open")
		// Its re-apply turn (see reapplyPerPush) was spent on it: the
		// next branch behind takes one now, not at the next push.
		return s.store.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.ListingsSet(ctx, u); err != nil {
				return err
			}
			return tx.InsertJob(ctx, ReapplyArgs{}, nil)
		})
	case len(v.Pending) > 0:
		return s.set(ctx, store.ListingsUpdate{Branch: name, State: store.ListingPROpen, PRNumber: pr.Number, PRURL: pr.URL})
	case pr.Mergeable == nil:
		checked := pr.HeadSHA
		if pr, err = s.awaitMergeability(ctx, pr.Number); err != nil || pr.HeadSHA != checked {
			return err // a new head: its checks set off another Land
		}
	}
	switch {
	case !*pr.Mergeable || pr.MergeableState == "dirty" || pr.MergeableState == "behind":
		// The default branch moved: its push re-applies the change, and so
		// does reconcile should that push be lost.
		log.Info().Int("pr", pr.Number).Str("mergeable_state", pr.MergeableState).Msg("pull request conflicts or is behind; waiting for the re-apply")
		return nil
	}
	err = s.gh.Merge(ctx, pr.Number, pr.HeadSHA, s.cfg.MergeMethod, title(br.builds)+" (#"+itoa(pr.Number)+")")
	code, msg := ghclient.Status(err)
	switch {
	case err == nil:
		log.Info().Int("pr", pr.Number).Str("sha", pr.HeadSHA).Msg("merged pull request")
		return s.merged(ctx, br, pr)
	case code == http.StatusMethodNotAllowed && strings.Contains(msg, "Base branch was modified"):
		return errBaseModified
	case code == http.StatusMethodNotAllowed:
		// Not mergeable, a required check GitHub still expects, or a
		// requirement no check meets (a review): the next check event
		// tries again, and reconcile less and less often.
		s.refused.refused(name, pr.HeadSHA, s.now(), s.cfg.RetryDelay)
		log.Info().Int("pr", pr.Number).Str("answer", msg).Msg("merge refused; tried again at the next check, or later and later")
		return nil
	case code == http.StatusConflict && reevaluate > 0:
		return s.land(ctx, name, "", reevaluate-1, false)
	case code == http.StatusConflict:
		return nil
	case code == 0 || code >= 500:
		// The merge may have happened: read the pull request before any retry.
		again, rerr := s.gh.Pull(ctx, pr.Number)
		if rerr == nil && again.Merged {
			return s.merged(ctx, br, again)
		}
		return err
	default:
		return err
	}
}

// merged ends the builds of a branch whose pull request merged. A build
// that joined the branch after the merged head was pushed (Ubuntu 22.04
// and 24.04 of one release) is not in the file yet: it goes on on a
// branch made anew; otherwise the branch is deleted.
func (s *Service) merged(ctx context.Context, br branchOf, pr ghclient.PullRequest) error {
	s.refused.forget(br.name)
	k, err := s.readBaseKernels(ctx)
	if err != nil {
		return err
	}
	rest := false
	for i, l := range br.listings {
		l.UpdatedAt = s.now()
		if k.Lists(s.cfg.Catalog, br.builds[i].Request) {
			l.State, l.PRNumber, l.PRURL = store.ListingMerged, pr.Number, pr.URL
		} else {
			l.State, l.PRNumber, l.PRURL, l.HeadSHA, rest = store.ListingPending, 0, "", "", true
		}
		if err := s.store.ListingPut(ctx, l); err != nil {
			return err
		}
	}
	if err := s.gh.DeleteBranch(ctx, br.name); err != nil {
		return err
	}
	if rest {
		return s.ensureBranch(ctx, br.name)
	}
	return nil
}
