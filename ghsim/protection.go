package ghsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-github/v66/github"
)

// Branch protection and rulesets (GitHub's "Branches" and "Rules" areas),
// read-only: the default branch requires ValidateCheck, through classic
// protection (the default, as the README sets a repository up) or a
// ruleset, as Config.RequiredChecksIn says.

// Where the default branch's required check is configured.
const (
	RequiredInProtection = "protection"
	RequiredInRulesets   = "rulesets"
	RequiredNowhere      = "none"
)

const rulesetID = 4200001

// branchRules is what a branch requires before a merge.
type branchRules struct {
	checks  []string
	strict  bool
	reviews int  // approving reviews required
	ruleset bool // the rules are a ruleset's, not classic protection's
}

func (s *Server) rulesOf(branch string) branchRules {
	if branch != defaultBranch || s.cfg.RequiredChecksIn == RequiredNowhere {
		return branchRules{}
	}
	return branchRules{checks: []string{ValidateCheck}, reviews: s.cfg.RequiredReviews, ruleset: s.cfg.RequiredChecksIn == RequiredInRulesets}
}

// refusal is GitHub's 405 message for the unmet rules among violations
// ("" for none): classic protection names the first, a ruleset lists
// them all.
func (rules branchRules) refusal(violations ...string) string {
	violations = slices.DeleteFunc(violations, func(v string) bool { return v == "" })
	switch {
	case len(violations) == 0:
		return ""
	case !rules.ruleset:
		return violations[0]
	}
	return "Repository rule violations found\n\n" + strings.Join(violations, "\n\n") + "\n\n"
}

// unmetReviews is GitHub's 405 message for a pull request with fewer
// approving reviews than rules require, or "".
func (rules branchRules) unmetReviews(approvals int) string {
	switch {
	case approvals >= rules.reviews:
		return ""
	case rules.reviews == 1:
		return "At least 1 approving review is required by reviewers with write access."
	}
	return "At least " + strconv.Itoa(rules.reviews) + " approving reviews are required by reviewers with write access."
}

// reviewsJSON is the protection's required_pull_request_reviews, nil for
// none.
func (rules branchRules) reviewsJSON(u string) map[string]any {
	if rules.reviews == 0 {
		return nil
	}
	return map[string]any{
		"url": u + "/required_pull_request_reviews", "dismiss_stale_reviews": false, "require_code_owner_reviews": false,
		"required_approving_review_count": rules.reviews, "require_last_push_approval": false,
	}
}

func (s *Server) protected(branch string) bool {
	return branch == defaultBranch && s.cfg.RequiredChecksIn == RequiredInProtection
}

func (s *Server) requiredChecksJSON(branch string) *github.RequiredStatusChecks {
	u := s.urls().repoAPI() + "/branches/" + branch + "/protection/required_status_checks"
	rules := s.rulesOf(branch)
	contexts := rules.checks
	checks := []*github.RequiredStatusCheck{}
	for _, c := range contexts {
		checks = append(checks, &github.RequiredStatusCheck{Context: c, AppID: actionsApp.ID})
	}
	return &github.RequiredStatusChecks{Strict: rules.strict, Contexts: &contexts, Checks: &checks, URL: &u, ContextsURL: github.String(u + "/contexts")}
}

// getProtection is GET /repos/{owner}/{repo}/branches/{branch}/protection.
func (s *Server) getProtection(w http.ResponseWriter, r *http.Request) {
	branch := r.PathValue("branch")
	if !s.protected(branch) {
		writeError(w, r, http.StatusNotFound, "Branch not protected")
		return
	}
	u := s.urls().repoAPI() + "/branches/" + branch + "/protection"
	off := map[string]any{"enabled": false}
	body := map[string]any{
		"url": u, "required_status_checks": s.requiredChecksJSON(branch),
		"enforce_admins":          map[string]any{"url": u + "/enforce_admins", "enabled": false},
		"required_linear_history": off, "allow_force_pushes": off, "allow_deletions": off,
		"block_creations": off, "required_conversation_resolution": off, "lock_branch": off, "allow_fork_syncing": off,
	}
	if reviews := s.rulesOf(branch).reviewsJSON(u); reviews != nil {
		body["required_pull_request_reviews"] = reviews
	}
	writeJSON(w, r, http.StatusOK, body)
}

// getRequiredStatusChecks is GET .../branches/{branch}/protection/required_status_checks.
func (s *Server) getRequiredStatusChecks(w http.ResponseWriter, r *http.Request) {
	branch := r.PathValue("branch")
	if !s.protected(branch) {
		writeError(w, r, http.StatusNotFound, "Branch not protected")
		return
	}
	writeJSON(w, r, http.StatusOK, s.requiredChecksJSON(branch))
}

// getBranchRules is GET /repos/{owner}/{repo}/rules/branches/{branch}: the
// rules of every active ruleset that applies, possibly none.
func (s *Server) getBranchRules(w http.ResponseWriter, r *http.Request) {
	branch := r.PathValue("branch")
	out := []map[string]any{}
	if branch == defaultBranch && s.cfg.RequiredChecksIn == RequiredInRulesets {
		checks := []github.RuleRequiredStatusChecks{}
		for _, c := range s.rulesOf(branch).checks {
			checks = append(checks, github.RuleRequiredStatusChecks{Context: c})
		}
		params, _ := json.Marshal(github.RequiredStatusChecksRuleParameters{RequiredStatusChecks: checks})
		source := s.cfg.Owner + "/" + s.cfg.Repo
		out = append(out, map[string]any{
			"type": "required_status_checks", "parameters": json.RawMessage(params),
			"ruleset_source_type": "Repository", "ruleset_source": source, "ruleset_id": rulesetID,
		})
		if n := s.rulesOf(branch).reviews; n > 0 {
			out = append(out, map[string]any{
				"type": "pull_request", "parameters": map[string]any{
					"required_approving_review_count": n, "dismiss_stale_reviews_on_push": false,
					"require_code_owner_review": false, "require_last_push_approval": false, "required_review_thread_resolution": false,
				},
				"ruleset_source_type": "Repository", "ruleset_source": source, "ruleset_id": rulesetID,
			})
		}
	}
	writeJSON(w, r, http.StatusOK, out)
}
