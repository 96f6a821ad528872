package ghclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"
)

// PullRequest is what the service needs of a pull request.
type PullRequest struct {
	Number  int
	URL     string // html_url
	State   string // open, closed
	Merged  bool
	HeadRef string
	HeadSHA string
	BaseRef string
	// Mergeable is nil while GitHub computes it.
	Mergeable      *bool
	MergeableState string // clean, dirty, behind, blocked, unstable, unknown, ...
}

func pullOf(p *github.PullRequest) PullRequest {
	return PullRequest{
		Number: p.GetNumber(), URL: p.GetHTMLURL(), State: p.GetState(), Merged: p.GetMerged(),
		HeadRef: p.GetHead().GetRef(), HeadSHA: p.GetHead().GetSHA(), BaseRef: p.GetBase().GetRef(),
		Mergeable: p.Mergeable, MergeableState: p.GetMergeableState(),
	}
}

// ErrPullExists means a pull request for the head branch is open already.
var ErrPullExists = errors.New("a pull request for the branch exists already")

// OpenPull opens a pull request of head into base; ErrPullExists when one
// is open already.
func (c *Client) OpenPull(ctx context.Context, head, base, title, body string) (PullRequest, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return PullRequest{}, err
	}
	p, _, err := gh.PullRequests.Create(ctx, c.repo.Owner, c.repo.Name, &github.NewPullRequest{
		Title: github.String(title), Head: github.String(head), Base: github.String(base), Body: github.String(body),
		MaintainerCanModify: github.Bool(false),
	})
	if code, _ := Status(err); code == http.StatusUnprocessableEntity && pullExists(err) {
		return PullRequest{}, ErrPullExists
	}
	if err != nil {
		return PullRequest{}, fmt.Errorf("open pull request for %s: %w", head, err)
	}
	return pullOf(p), nil
}

// pullExists recognizes GitHub's 422 "A pull request already exists for
// owner:branch." among its validation errors.
func pullExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, e := range er.Errors {
		if strings.Contains(e.Message, "pull request already exists") {
			return true
		}
	}
	return strings.Contains(er.Message, "pull request already exists")
}

// PullsOf lists the pull requests whose head is the branch of our
// repository, in a state: open, closed or all.
func (c *Client) PullsOf(ctx context.Context, branch, state string) ([]PullRequest, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return nil, err
	}
	ps, _, err := gh.PullRequests.List(ctx, c.repo.Owner, c.repo.Name, &github.PullRequestListOptions{
		Head: c.repo.Owner + ":" + branch, State: state, ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return nil, fmt.Errorf("list pull requests of %s: %w", branch, err)
	}
	out := make([]PullRequest, 0, len(ps))
	for _, p := range ps {
		out = append(out, pullOf(p))
	}
	return out, nil
}

// Pull reads one pull request.
func (c *Client) Pull(ctx context.Context, number int) (PullRequest, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return PullRequest{}, err
	}
	p, _, err := gh.PullRequests.Get(ctx, c.repo.Owner, c.repo.Name, number)
	if err != nil {
		return PullRequest{}, fmt.Errorf("get pull request %d: %w", number, err)
	}
	return pullOf(p), nil
}

// Merge merges a pull request if its head is still sha. The error is
// GitHub's: Status tells a 405 or 409 from the rest.
func (c *Client) Merge(ctx context.Context, number int, sha, method, title string) error {
	gh, err := c.installation(ctx)
	if err != nil {
		return err
	}
	res, _, err := gh.PullRequests.Merge(ctx, c.repo.Owner, c.repo.Name, number, "", &github.PullRequestOptions{
		SHA: sha, MergeMethod: method, CommitTitle: title,
	})
	if err != nil {
		return fmt.Errorf("merge pull request %d: %w", number, err)
	}
	if !res.GetMerged() {
		return fmt.Errorf("merge pull request %d: not merged: %s", number, res.GetMessage())
	}
	return nil
}

// Check is one check run or commit status of a commit, named as branch
// protection names it.
type Check struct {
	Name       string
	Completed  bool
	Conclusion string // of a completed check: success, failure, neutral, skipped, ...
}

// Checks lists the latest check runs and commit statuses of a commit.
func (c *Client) Checks(ctx context.Context, sha string) ([]Check, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return nil, err
	}
	var out []Check
	opts := &github.ListCheckRunsOptions{Filter: github.String("latest"), ListOptions: github.ListOptions{PerPage: 100}}
	for {
		runs, resp, err := gh.Checks.ListCheckRunsForRef(ctx, c.repo.Owner, c.repo.Name, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("list check runs of %s: %w", sha, err)
		}
		for _, r := range runs.CheckRuns {
			out = append(out, Check{Name: r.GetName(), Completed: r.GetStatus() == "completed", Conclusion: r.GetConclusion()})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	combined, _, err := gh.Repositories.GetCombinedStatus(ctx, c.repo.Owner, c.repo.Name, sha, &github.ListOptions{PerPage: 100})
	if err != nil {
		return nil, fmt.Errorf("combined status of %s: %w", sha, err)
	}
	for _, s := range combined.Statuses {
		out = append(out, Check{Name: s.GetContext(), Completed: s.GetState() != "pending", Conclusion: s.GetState()})
	}
	return out, nil
}

// Required is what a branch's rules require before a merge.
type Required struct {
	Checks []string
	// Strict: the head must contain the base's head (up to date).
	Strict bool
}

// ProtectionChecks reads the required status checks of classic branch
// protection; found is false when the branch is not protected or its
// protection requires no checks (GitHub answers 404 for both).
func (c *Client) ProtectionChecks(ctx context.Context, branch string) (req Required, found bool, err error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return Required{}, false, err
	}
	rsc, _, err := gh.Repositories.GetRequiredStatusChecks(ctx, c.repo.Owner, c.repo.Name, branch)
	switch {
	// go-github turns the 404 "Branch not protected" into its own error.
	case errors.Is(err, github.ErrBranchNotProtected), IsNotFound(err):
		return Required{}, false, nil
	case err != nil:
		return Required{}, false, fmt.Errorf("branch protection of %s: %w", branch, err)
	}
	req.Strict = rsc.Strict
	if rsc.Checks != nil {
		for _, c := range *rsc.Checks {
			req.Checks = append(req.Checks, c.Context)
		}
	} else if rsc.Contexts != nil {
		req.Checks = append(req.Checks, *rsc.Contexts...)
	}
	return req, true, nil
}

// RulesetChecks reads the required status checks of the rulesets that
// apply to a branch (GET /repos/{owner}/{repo}/rules/branches/{branch}).
func (c *Client) RulesetChecks(ctx context.Context, branch string) (Required, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return Required{}, err
	}
	rules, _, err := gh.Repositories.GetRulesForBranch(ctx, c.repo.Owner, c.repo.Name, branch)
	if err != nil {
		return Required{}, fmt.Errorf("rules of %s: %w", branch, err)
	}
	var req Required
	for _, r := range rules {
		if r.Type != "required_status_checks" || r.Parameters == nil {
			continue
		}
		var p github.RequiredStatusChecksRuleParameters
		if err := json.Unmarshal(*r.Parameters, &p); err != nil {
			return Required{}, fmt.Errorf("rules of %s: required_status_checks parameters: %w", branch, err)
		}
		req.Strict = req.Strict || p.StrictRequiredStatusChecksPolicy
		for _, c := range p.RequiredStatusChecks {
			req.Checks = append(req.Checks, c.Context)
		}
	}
	return req, nil
}
