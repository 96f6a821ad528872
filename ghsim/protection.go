package ghsim

import (
	"encoding/json"
	"net/http"

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
	checks []string
	strict bool
}

func (s *Server) rulesOf(branch string) branchRules {
	if branch != defaultBranch || s.cfg.RequiredChecksIn == RequiredNowhere {
		return branchRules{}
	}
	return branchRules{checks: []string{ValidateCheck}}
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
	writeJSON(w, r, http.StatusOK, map[string]any{
		"url": u, "required_status_checks": s.requiredChecksJSON(branch),
		"enforce_admins":          map[string]any{"url": u + "/enforce_admins", "enabled": false},
		"required_linear_history": off, "allow_force_pushes": off, "allow_deletions": off,
		"block_creations": off, "required_conversation_resolution": off, "lock_branch": off, "allow_fork_syncing": off,
	})
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
	}
	writeJSON(w, r, http.StatusOK, out)
}
