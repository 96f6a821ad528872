package builds

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
)

// maxRedeliveries bounds one pass, so a long outage is caught up with over
// a few passes rather than in a burst GitHub would rate-limit.
const maxRedeliveries = 50

// Redeliver asks GitHub to deliver again the webhooks that failed since
// the time (the service was down, a handler failed) and that no later
// attempt delivered: GitHub never retries on its own. A delivery this
// service has recorded was applied, whatever its answer said, and is left.
func (s *Service) Redeliver(ctx context.Context, since time.Time) (int, error) {
	attempts, err := s.gh.Deliveries(ctx, since)
	if err != nil {
		return 0, err
	}
	delivered := map[string]bool{}
	for _, a := range attempts {
		delivered[a.GUID] = delivered[a.GUID] || a.OK
	}
	asked := map[string]bool{}
	n := 0
	for _, a := range attempts { // newest first: the latest attempt of each
		if delivered[a.GUID] || asked[a.GUID] || !slices.Contains(s.cfg.Events, a.Event) {
			continue
		}
		asked[a.GUID] = true
		seen, err := s.store.DeliverySeen(ctx, a.GUID)
		if err != nil {
			return n, fmt.Errorf("look up delivery: %w", err)
		}
		if seen {
			continue
		}
		if n == maxRedeliveries {
			break
		}
		if err := s.gh.Redeliver(ctx, a.ID); err != nil {
			return n, err
		}
		n++
		zerolog.Ctx(ctx).Info().Str("delivery_id", a.GUID).Str("event", a.Event).Str("action", a.Action).Msg("asked GitHub to redeliver a failed webhook")
	}
	return n, nil
}
