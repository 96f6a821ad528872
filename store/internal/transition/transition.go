// Package transition holds the build transition rule, so that every store
// implementation applies the same one.
package transition

import "github.com/riptides/driverbuild/store"

// Apply returns b after what p says, following the rule documented on
// store.Queries.BuildTransition. write reports whether the stored row must
// change; ev is the event to record, nil unless the status moved.
func Apply(b store.Build, p store.BuildTransitionParams) (next store.Build, ev *store.Event, write bool) {
	if p.From != "" && b.Status != p.From {
		return b, nil, false
	}
	if b.RunID != 0 && p.RunID != 0 && p.RunID != b.RunID {
		return b, nil, false // another run of the build: it follows its first
	}
	switch {
	case b.Status.Advances(p.To):
		ev = &store.Event{
			BuildID:   b.ID,
			From:      b.Status,
			To:        p.To,
			Reason:    p.Reason,
			Source:    p.Source,
			Detail:    p.Detail,
			CreatedAt: p.Now,
		}
		b.Status = p.To
		if p.To == store.StatusInProgress && b.DispatchedAt.IsZero() {
			b.DispatchedAt = p.Now
		}
		if p.To.Terminal() {
			b.FinishedAt = p.Now
		}
		return record(b, p), ev, true
	case p.To == b.Status && !b.Status.Terminal():
		return record(b, p), nil, true
	}
	// A late or duplicated event still tells us which run the build is,
	// which is all it may add.
	write = fill(&b.RunID, p.RunID)
	write = fill(&b.RunURL, p.RunURL) || write
	if write {
		b.UpdatedAt = p.Now
	}
	return b, nil, write
}

// record copies the non-empty fields of p into b and marks it heard from.
func record(b store.Build, p store.BuildTransitionParams) store.Build {
	set(&b.Reason, p.Reason)
	set(&b.Progress, p.Progress)
	fill(&b.RunID, p.RunID)
	fill(&b.RunURL, p.RunURL)
	set(&b.DownloadURL, p.DownloadURL)
	set(&b.Digest, p.Digest)
	b.UpdatedAt = p.Now
	b.HeardAt = p.Now
	return b
}

// fill sets an empty dst to a non-empty v, and reports whether it did.
func fill[T comparable](dst *T, v T) bool {
	var zero T
	if *dst != zero || v == zero {
		return false
	}
	*dst = v
	return true
}

func set[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
