package ghsim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

// Checks (GitHub's "Checks" and "Commit statuses" areas): every pull
// request head gets a check suite of the repository's validate-kernels
// workflow, whose one run really validates the head's kernels.json (or
// fails, for branches matching Config.FailChecks) after CheckDuration.
// Commit statuses can be posted. Their state lives with the pulls'.

// ValidateCheck is the check the simulated workflow reports: the job name
// of .github/workflows/validate-kernels.yml, which the default branch's
// protection requires.
const ValidateCheck = "validate-kernels"

// actionsApp is the app check suites of workflows belong to.
var actionsApp = &github.App{ID: github.Int64(15368), Slug: github.String("github-actions"), Name: github.String("GitHub Actions")}

type checkSuite struct {
	id, runID           int64
	headBranch, headSHA string
	status, conclusion  string
	summary             string
	created, updated    time.Time
	completed           time.Time
}

type commitStatus struct {
	id                                int64
	sha, state, context, desc, target string
	created                           time.Time
}

// startChecksLocked creates the check suite of a head, once per commit,
// and completes it after CheckDuration. Callers hold pulls.mu.
func (s *Server) startChecksLocked(branch, sha string) {
	for _, cs := range s.pulls.suites {
		if cs.headSHA == sha {
			return
		}
	}
	now := s.now()
	cs := &checkSuite{id: s.newID(), runID: s.newID(), headBranch: branch, headSHA: sha, status: "queued", created: now, updated: now}
	s.pulls.suites = append(s.pulls.suites, cs)
	s.sendCheckRunLocked("created", cs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-time.After(s.cfg.CheckDuration):
		case <-s.ctx.Done():
			return
		}
		s.completeChecks(cs)
	}()
}

func (s *Server) completeChecks(cs *checkSuite) {
	conclusion, summary := "success", ".github/kernels.json is valid"
	if re := s.cfg.FailChecks; re != nil && re.MatchString(cs.headBranch) {
		conclusion, summary = "failure", "failed by -fail-checks"
	} else {
		s.repo.mu.RLock()
		e, found := s.repo.lookup(cs.headSHA, ".github/kernels.json")
		b, _ := s.repo.objects[e.sha].(blob)
		s.repo.mu.RUnlock()
		switch {
		case !found:
			summary = "no .github/kernels.json"
		default:
			if err := matrix.ValidateKernels(kernel.DefaultCatalog(), b.data); err != nil {
				conclusion, summary = "failure", err.Error()
			}
		}
	}
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	now := s.now()
	cs.status, cs.conclusion, cs.summary, cs.completed, cs.updated = "completed", conclusion, summary, now, now
	s.sendCheckRunLocked("completed", cs)
	s.send(branchQueue("refs/heads/"+cs.headBranch), "check_suite", "completed", checkSuiteEvent{
		Action: "completed", CheckSuite: s.checkSuiteJSONLocked(cs),
		Repository: s.urls().fullRepo(s.started), Organization: s.urls().org(), Sender: s.bot(), Installation: s.installationRef(),
	})
}

func ts(t time.Time) *github.Timestamp {
	if t.IsZero() {
		return nil
	}
	return &github.Timestamp{Time: t}
}

// pullRefsLocked are the open pull requests of a head, as checks list them.
func (s *Server) pullRefsLocked(sha string) []*github.PullRequest {
	out := []*github.PullRequest{}
	u := s.urls()
	for _, p := range s.pulls.pulls {
		if p.state != "open" || p.headSHA != sha {
			continue
		}
		repo := &github.Repository{ID: github.Int64(repositoryID), URL: github.String(u.repoAPI()), Name: github.String(s.cfg.Repo)}
		out = append(out, &github.PullRequest{
			URL: github.String(u.repoAPI() + "/pulls/" + strconv.FormatInt(p.number, 10)), ID: github.Int64(p.id), Number: github.Int(int(p.number)),
			Head: &github.PullRequestBranch{Ref: github.String(p.head), SHA: github.String(p.headSHA), Repo: repo},
			Base: &github.PullRequestBranch{Ref: github.String(p.base), SHA: github.String(p.baseSHA), Repo: repo},
		})
	}
	return out
}

func (s *Server) checkSuiteJSONLocked(cs *checkSuite) *github.CheckSuite {
	out := &github.CheckSuite{
		ID: github.Int64(cs.id), NodeID: github.String(nodeID("CheckSuite", cs.id)), HeadBranch: github.String(cs.headBranch),
		HeadSHA: github.String(cs.headSHA), Status: github.String(cs.status), URL: github.String(s.urls().repoAPI() + "/check-suites/" + strconv.FormatInt(cs.id, 10)),
		App: actionsApp, CreatedAt: ts(cs.created), UpdatedAt: ts(cs.updated), PullRequests: s.pullRefsLocked(cs.headSHA),
	}
	if cs.conclusion != "" {
		out.Conclusion = github.String(cs.conclusion)
	}
	return out
}

func (s *Server) checkRunJSONLocked(cs *checkSuite) *github.CheckRun {
	u := s.urls()
	out := &github.CheckRun{
		ID: github.Int64(cs.runID), NodeID: github.String(nodeID("CheckRun", cs.runID)), HeadSHA: github.String(cs.headSHA),
		ExternalID: github.String(strconv.FormatInt(cs.runID, 10)),
		URL:        github.String(u.repoAPI() + "/check-runs/" + strconv.FormatInt(cs.runID, 10)),
		HTMLURL:    github.String(u.repoHTML() + "/runs/" + strconv.FormatInt(cs.runID, 10)),
		Status:     github.String(cs.status), Name: github.String(ValidateCheck), StartedAt: ts(cs.created), CompletedAt: ts(cs.completed),
		Output: &github.CheckRunOutput{Title: github.String(ValidateCheck), Summary: github.String(cs.summary)},
		CheckSuite: &github.CheckSuite{ID: github.Int64(cs.id), HeadBranch: github.String(cs.headBranch), HeadSHA: github.String(cs.headSHA),
			Status: github.String(cs.status), App: actionsApp},
		App: actionsApp, PullRequests: s.pullRefsLocked(cs.headSHA),
	}
	if cs.conclusion != "" {
		out.Conclusion = github.String(cs.conclusion)
		out.CheckSuite.Conclusion = github.String(cs.conclusion)
	}
	return out
}

type checkSuiteEvent struct {
	Action       string              `json:"action"`
	CheckSuite   *github.CheckSuite  `json:"check_suite"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

type checkRunEvent struct {
	Action       string              `json:"action"`
	CheckRun     *github.CheckRun    `json:"check_run"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

func (s *Server) sendCheckRunLocked(action string, cs *checkSuite) {
	u := s.urls()
	s.send(branchQueue("refs/heads/"+cs.headBranch), "check_run", action, checkRunEvent{
		Action: action, CheckRun: s.checkRunJSONLocked(cs),
		Repository: u.fullRepo(s.started), Organization: u.org(), Sender: s.bot(), Installation: s.installationRef(),
	})
}

// resolveRef turns a path's {ref} into a commit sha.
func (s *Server) resolveRef(r *http.Request) (string, bool) {
	s.repo.mu.RLock()
	defer s.repo.mu.RUnlock()
	return s.repo.resolve(r.PathValue("ref"))
}

// listCheckRuns is GET /repos/{owner}/{repo}/commits/{ref}/check-runs.
func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	sha, ok := s.resolveRef(r)
	if !ok {
		writeError(w, r, http.StatusUnprocessableEntity, "No commit found for SHA: "+r.PathValue("ref"))
		return
	}
	s.pulls.mu.Lock()
	runs := []*github.CheckRun{}
	for _, cs := range s.pulls.suites {
		if cs.headSHA == sha {
			runs = append(runs, s.checkRunJSONLocked(cs))
		}
	}
	s.pulls.mu.Unlock()
	writeJSON(w, r, http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": runs})
}

// combinedStatus is GET /repos/{owner}/{repo}/commits/{ref}/status: the
// latest status of each context, and their sum.
func (s *Server) combinedStatus(w http.ResponseWriter, r *http.Request) {
	sha, ok := s.resolveRef(r)
	if !ok {
		writeError(w, r, http.StatusUnprocessableEntity, "No commit found for SHA: "+r.PathValue("ref"))
		return
	}
	s.pulls.mu.Lock()
	latest := map[string]*commitStatus{}
	var order []string
	for _, st := range s.pulls.statuses {
		if st.sha != sha {
			continue
		}
		if _, seen := latest[st.context]; !seen {
			order = append(order, st.context)
		}
		latest[st.context] = st
	}
	s.pulls.mu.Unlock()
	out := &github.CombinedStatus{SHA: github.String(sha), TotalCount: github.Int(len(order)), Statuses: []*github.RepoStatus{},
		CommitURL: github.String(s.urls().repoAPI() + "/commits/" + sha), RepositoryURL: github.String(s.urls().repoAPI())}
	state := "success"
	if len(order) == 0 {
		state = "pending"
	}
	for _, c := range order {
		st := latest[c]
		out.Statuses = append(out.Statuses, s.statusJSON(st))
		switch {
		case st.state == "failure" || st.state == "error":
			state = "failure"
		case st.state == "pending" && state != "failure":
			state = "pending"
		}
	}
	out.State = github.String(state)
	writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) statusJSON(st *commitStatus) *github.RepoStatus {
	return &github.RepoStatus{
		ID: github.Int64(st.id), NodeID: github.String(nodeID("StatusContext", st.id)), URL: github.String(s.urls().repoAPI() + "/statuses/" + st.sha),
		State: github.String(st.state), Context: github.String(st.context), Description: github.String(st.desc), TargetURL: github.String(st.target),
		CreatedAt: ts(st.created), UpdatedAt: ts(st.created), Creator: s.ghUser(s.bot()),
	}
}

type statusEvent struct {
	ID           int64               `json:"id"`
	SHA          string              `json:"sha"`
	Name         string              `json:"name"`
	TargetURL    *string             `json:"target_url"`
	Context      string              `json:"context"`
	Description  *string             `json:"description"`
	State        string              `json:"state"`
	Branches     []*github.Branch    `json:"branches"`
	CreatedAt    timestamp           `json:"created_at"`
	UpdatedAt    timestamp           `json:"updated_at"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

// createStatus is POST /repos/{owner}/{repo}/statuses/{sha}.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State       *string `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     string  `json:"context"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.State == nil:
		invalidRequest(w, r, `"state" wasn't supplied.`)
		return
	case *req.State != "error" && *req.State != "failure" && *req.State != "pending" && *req.State != "success":
		writeJSON(w, r, http.StatusUnprocessableEntity, validation("Status", "state", "custom", "state is not included in the list"))
		return
	}
	sha := r.PathValue("sha")
	s.pulls.mu.Lock()
	s.repo.mu.RLock()
	if _, ok := s.repo.commit(sha); !ok {
		s.repo.mu.RUnlock()
		s.pulls.mu.Unlock()
		writeError(w, r, http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
		return
	}
	var branches []*github.Branch
	for name, head := range s.repo.refs {
		if b, ok := cutBranch(name); ok && head == sha {
			branches = append(branches, &github.Branch{Name: github.String(b), Commit: &github.RepositoryCommit{SHA: github.String(sha)}})
		}
	}
	s.repo.mu.RUnlock()
	st := &commitStatus{id: s.newID(), sha: sha, state: *req.State, context: cmpOr(req.Context, "default"), created: s.now()}
	if req.Description != nil {
		st.desc = *req.Description
	}
	if req.TargetURL != nil {
		st.target = *req.TargetURL
	}
	s.pulls.statuses = append(s.pulls.statuses, st)
	u := s.urls()
	queue := "statuses"
	if len(branches) > 0 {
		queue = branchQueue("refs/heads/" + branches[0].GetName())
	}
	s.send(queue, "status", "", statusEvent{
		ID: st.id, SHA: sha, Name: s.cfg.Owner + "/" + s.cfg.Repo, TargetURL: req.TargetURL, Context: st.context, Description: req.Description,
		State: st.state, Branches: branches, CreatedAt: timestamp(st.created), UpdatedAt: timestamp(st.created),
		Repository: u.fullRepo(s.started), Organization: u.org(), Sender: s.bot(), Installation: s.installationRef(),
	})
	body := s.statusJSON(st)
	s.pulls.mu.Unlock()
	writeJSON(w, r, http.StatusCreated, body)
}

func cutBranch(ref string) (string, bool) {
	if len(ref) > len("refs/heads/") && ref[:len("refs/heads/")] == "refs/heads/" {
		return ref[len("refs/heads/"):], true
	}
	return "", false
}

// checkPassedLocked says whether the latest check run or commit status
// named name of sha passed, failed or is still to come ("", "failing",
// "expected"). Callers hold pulls.mu.
func (s *Server) checkStateLocked(sha, name string) string {
	state := "expected"
	for _, cs := range s.pulls.suites {
		if cs.headSHA == sha && name == ValidateCheck && cs.status == "completed" {
			state = "failing"
			if cs.conclusion == "success" {
				return ""
			}
		}
	}
	for i := len(s.pulls.statuses) - 1; i >= 0; i-- {
		st := s.pulls.statuses[i]
		if st.sha == sha && st.context == name {
			switch st.state {
			case "success":
				return ""
			case "pending":
				return "expected"
			}
			return "failing"
		}
	}
	return state
}

// unmetCheckLocked is GitHub's 405 message for the first required check
// of rules that has not passed on sha, or "". Callers hold pulls.mu.
func (s *Server) unmetCheckLocked(rules branchRules, sha string) string {
	for _, name := range rules.checks {
		if state := s.checkStateLocked(sha, name); state != "" {
			return "Required status check \"" + name + "\" is " + state + "."
		}
	}
	return ""
}
