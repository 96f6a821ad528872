package listing

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// mergeRetryMax bounds the wait between the reconciles' tries of a merge
// GitHub refused for a reason no check event changes (a required review,
// a rule): noticing that a person cleared it (approved the pull request:
// no webhook of ours says so) takes at most this long, or that one merged
// or closed it whose webhook was lost, and a pull request left waiting
// costs twelve tries an hour, not sixty.
const mergeRetryMax = 5 * time.Minute

// refusals are the merges GitHub refused, by branch, in this process:
// each replica that works a reconcile keeps its own, and a restart
// forgets them, each costing a try more. The branches refused longest
// ago go past refusalsKept (a branch closed without merging is never
// forgotten otherwise).
type refusals struct {
	mu sync.Mutex
	by *simplelru.LRU[string, refusal]
}

const refusalsKept = 1024

type refusal struct {
	sha  string // the head refused
	n    int    // refusals of it in a row
	next time.Time
}

// due reports whether the merge of branch at sha may be tried at now:
// it was not refused, or its wait is over.
func (r *refusals) due(branch, sha string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		return true
	}
	f, ok := r.by.Peek(branch)
	return !ok || f.sha != sha || !now.Before(f.next)
}

// refused notes a refusal of branch at sha at now. The wait before the
// next try is first, then twice the one before it, up to mergeRetryMax.
func (r *refusals) refused(branch, sha string, now time.Time, first time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by, _ = simplelru.NewLRU[string, refusal](refusalsKept, nil)
	}
	f, _ := r.by.Get(branch)
	if f.sha != sha {
		f = refusal{sha: sha}
	}
	wait := first
	for range f.n {
		if wait *= 2; wait >= mergeRetryMax {
			break
		}
	}
	f.n++
	f.next = now.Add(min(wait, mergeRetryMax))
	r.by.Add(branch, f)
}

// forget drops what is known of branch: it merged.
func (r *refusals) forget(branch string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by != nil {
		r.by.Remove(branch)
	}
}
