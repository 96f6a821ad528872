package listing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/riptides/driverbuild/ghclient"
)

// Verdict is what the required checks of a head say.
type Verdict struct {
	Required []string
	Failed   []string // completed without passing
	Pending  []string // not run yet, or running
}

// Decider decides whether a head may merge into a base.
type Decider interface {
	Decide(ctx context.Context, base, sha string) (Verdict, error)
}

// ChecksGitHub is what the Checks decider reads.
type ChecksGitHub interface {
	ProtectionChecks(ctx context.Context, branch string) (ghclient.Required, bool, error)
	RulesetChecks(ctx context.Context, branch string) (ghclient.Required, error)
	Checks(ctx context.Context, sha string) ([]ghclient.Check, error)
}

// Checks decides on the checks the base requires: those of its classic
// branch protection and of the rulesets that apply to it (a repository
// with rulesets only answers 404 on protection); Fallback when neither
// requires any. When neither can be read it decides nothing: GitHub
// would refuse a merge its rules forbid, but a head whose checks still
// run must not be merged because a read failed.
type Checks struct {
	GitHub   ChecksGitHub
	Fallback []string

	// What the base requires is read once a requiredTTL: fifty merges in
	// a row need not read the same rules fifty times.
	mu     sync.Mutex
	cached map[string]requiredAt
}

type requiredAt struct {
	checks []string
	at     time.Time
}

// requiredTTL is how long what a base requires is taken as read.
const requiredTTL = 30 * time.Second

// ErrNoRequiredChecks means there is nothing to merge on.
var ErrNoRequiredChecks = errors.New("no required checks: the base has no protection or ruleset requiring checks, and kernels_json.required_checks is empty; not merging unchecked")

func (c *Checks) required(ctx context.Context, base string) ([]string, error) {
	c.mu.Lock()
	r, ok := c.cached[base]
	c.mu.Unlock()
	if ok && time.Since(r.at) < requiredTTL {
		return r.checks, nil
	}
	checks, err := c.read(ctx, base)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cached == nil {
		c.cached = map[string]requiredAt{}
	}
	c.cached[base] = requiredAt{checks: checks, at: time.Now()}
	c.mu.Unlock()
	return checks, nil
}

func (c *Checks) read(ctx context.Context, base string) ([]string, error) {
	prot, protected, perr := c.GitHub.ProtectionChecks(ctx, base)
	rules, rerr := c.GitHub.RulesetChecks(ctx, base)
	if perr != nil && rerr != nil {
		return nil, fmt.Errorf("neither branch protection nor rulesets of %s could be read: %w", base, errors.Join(perr, rerr))
	}
	var req []string
	if protected {
		req = append(req, prot.Checks...)
	}
	if rerr == nil {
		req = append(req, rules.Checks...)
	}
	slices.Sort(req)
	req = slices.Compact(req)
	if len(req) == 0 && (perr != nil || rerr != nil) {
		return nil, fmt.Errorf("the rules of %s are partly unreadable and what was read requires no check: %w", base, errors.Join(perr, rerr))
	}
	if len(req) == 0 {
		req = c.Fallback
	}
	if len(req) == 0 {
		return nil, ErrNoRequiredChecks
	}
	return req, nil
}

// passing are the conclusions branch protection accepts.
var passing = []string{"success", "neutral", "skipped"}

func (c *Checks) Decide(ctx context.Context, base, sha string) (Verdict, error) {
	req, err := c.required(ctx, base)
	if err != nil {
		return Verdict{}, err
	}
	checks, err := c.GitHub.Checks(ctx, sha)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Required: req}
	for _, name := range req {
		var seen, running, failed bool
		for _, ch := range checks {
			if ch.Name != name {
				continue
			}
			seen = true
			running = running || !ch.Completed
			failed = failed || ch.Completed && !slices.Contains(passing, ch.Conclusion)
		}
		switch {
		case failed:
			v.Failed = append(v.Failed, name)
		case !seen || running:
			v.Pending = append(v.Pending, name)
		}
	}
	return v, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
