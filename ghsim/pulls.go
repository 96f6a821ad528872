package ghsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v66/github"
)

// Pull requests (GitHub's "Pulls" area) and their checks, behind one
// lock taken before the repository's: create with 422 for a duplicate
// head, list by head and state, get with mergeable null until computed,
// and merge with the head sha precondition, answering 405 and 409 as
// GitHub does. Mergeability comes from real conflicts: a file changed on
// both sides since the merge base.

type pullState struct {
	mu       sync.Mutex
	pulls    []*pull // by number - 1
	suites   []*checkSuite
	statuses []*commitStatus
	merges   int64
}

type pull struct {
	id, number      int64
	title, body     string
	head, base      string // branch names
	headSHA         string
	baseSHA         string // the base's head when last computed or when merged
	state           string // open, closed
	merged          bool
	mergeCommit     string
	created, update time.Time
	closed, mergeAt time.Time
	// computedFor is the head:base pair whose mergeability a GET computed;
	// a pair not computed yet answers mergeable null.
	computedFor string
	approvals   int // approving reviews by reviewers with write access
}

func (p *pull) key(baseHead string) string { return p.headSHA + ":" + baseHead }

type mergeResult struct {
	conflict bool   // a file changed on both sides since the merge base
	behind   bool   // the base's head is not in the head's history
	tree     string // the merged tree, when no conflict
}

// mergeLocked merges head into base as git would, file by file; callers
// hold repo.mu.
func (repo *repository) mergeLocked(head, base string) mergeResult {
	if repo.isAncestor(base, head) {
		hc, _ := repo.commit(head)
		return mergeResult{tree: hc.tree}
	}
	res := mergeResult{behind: true}
	mb := repo.mergeBase(head, base)
	hc, _ := repo.commit(head)
	bc, _ := repo.commit(base)
	var mbTree string
	if c, ok := repo.commit(mb); ok {
		mbTree = c.tree
	}
	fm, fh, fb := repo.flatten(mbTree), repo.flatten(hc.tree), repo.flatten(bc.tree)
	var changes []treeChange
	paths := map[string]bool{}
	for p := range fh {
		paths[p] = true
	}
	for p := range fm {
		paths[p] = true
	}
	for p := range paths {
		h, m, b := fh[p], fm[p], fb[p]
		if h == m {
			continue // unchanged on the head's side
		}
		if b != m && b != h {
			res.conflict = true
			return res
		}
		changes = append(changes, treeChange{path: p, mode: h.mode, sha: h.sha})
	}
	slices.SortFunc(changes, func(a, b treeChange) int { return strings.Compare(a.path, b.path) })
	tree, err := repo.editTree(bc.tree, changes)
	if err != nil {
		res.conflict = true
		return res
	}
	res.tree = tree
	return res
}

// mergeBase is the nearest common ancestor of a and b.
func (repo *repository) mergeBase(a, b string) string {
	ofA := map[string]bool{}
	queue := []string{a}
	for len(queue) > 0 {
		sha := queue[0]
		queue = queue[1:]
		if ofA[sha] {
			continue
		}
		ofA[sha] = true
		c, _ := repo.commit(sha)
		queue = append(queue, c.parents...)
	}
	queue = []string{b}
	seen := map[string]bool{}
	for len(queue) > 0 {
		sha := queue[0]
		queue = queue[1:]
		if ofA[sha] {
			return sha
		}
		if seen[sha] {
			continue
		}
		seen[sha] = true
		c, _ := repo.commit(sha)
		queue = append(queue, c.parents...)
	}
	return ""
}

// pullJSON is a pull request as the API and webhooks show it; mergeable
// is null, not absent, while unknown.
type pullJSON struct {
	*github.PullRequest
	Mergeable *bool `json:"mergeable"`
}

func (s *Server) ghRepo() *github.Repository {
	var r github.Repository
	b, _ := json.Marshal(s.urls().fullRepo(s.started))
	_ = json.Unmarshal(b, &r)
	return &r
}

func (s *Server) ghUser(u userJSON) *github.User {
	var out github.User
	b, _ := json.Marshal(u)
	_ = json.Unmarshal(b, &out)
	return &out
}

// pullJSONLocked renders p; mergeable is given by the caller (nil for
// unknown). Callers hold pulls.mu and repo.mu.
func (s *Server) pullJSONLocked(p *pull, mergeable *bool, mergeableState string) pullJSON {
	u := s.urls()
	api := u.repoAPI() + "/pulls/" + strconv.FormatInt(p.number, 10)
	html := u.repoHTML() + "/pull/" + strconv.FormatInt(p.number, 10)
	repo, bot := s.ghRepo(), s.ghUser(s.bot())
	baseSHA := s.repo.refs["refs/heads/"+p.base]
	if p.merged || baseSHA == "" {
		baseSHA = p.baseSHA
	}
	ts := func(t time.Time) *github.Timestamp {
		if t.IsZero() {
			return nil
		}
		return &github.Timestamp{Time: t}
	}
	out := &github.PullRequest{
		ID: github.Int64(p.id), NodeID: github.String(nodeID("PullRequest", p.id)), Number: github.Int(int(p.number)),
		URL: github.String(api), HTMLURL: github.String(html), DiffURL: github.String(html + ".diff"), PatchURL: github.String(html + ".patch"),
		IssueURL:   github.String(u.repoAPI() + "/issues/" + strconv.FormatInt(p.number, 10)),
		CommitsURL: github.String(api + "/commits"), StatusesURL: github.String(u.repoAPI() + "/statuses/" + p.headSHA),
		State: github.String(p.state), Locked: github.Bool(false), Title: github.String(p.title), Body: github.String(p.body),
		User: bot, CreatedAt: ts(p.created), UpdatedAt: ts(p.update), ClosedAt: ts(p.closed), MergedAt: ts(p.mergeAt),
		Merged: github.Bool(p.merged), MergeableState: github.String(mergeableState), Rebaseable: mergeable,
		Draft: github.Bool(false), AuthorAssociation: github.String("NONE"), MaintainerCanModify: github.Bool(false),
		Head:     &github.PullRequestBranch{Label: github.String(s.cfg.Owner + ":" + p.head), Ref: github.String(p.head), SHA: github.String(p.headSHA), Repo: repo, User: repo.Owner},
		Base:     &github.PullRequestBranch{Label: github.String(s.cfg.Owner + ":" + p.base), Ref: github.String(p.base), SHA: github.String(baseSHA), Repo: repo, User: repo.Owner},
		Comments: github.Int(0), ReviewComments: github.Int(0), Commits: github.Int(1),
	}
	if p.merged {
		out.MergedBy, out.MergeCommitSHA = bot, github.String(p.mergeCommit)
	}
	return pullJSON{PullRequest: out, Mergeable: mergeable}
}

// pullByNumber returns the pull request of a path's {pull_number}, or
// answers GitHub's 404 and returns nil. Callers hold pulls.mu.
func (s *Server) pullByNumber(w http.ResponseWriter, r *http.Request) *pull {
	n, err := strconv.ParseInt(r.PathValue("pull_number"), 10, 64)
	if err != nil || n < 1 || n > int64(len(s.pulls.pulls)) {
		notFound(w, r)
		return nil
	}
	return s.pulls.pulls[n-1]
}

// createPull is POST /repos/{owner}/{repo}/pulls.
func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title *string `json:"title"`
		Head  *string `json:"head"`
		Base  *string `json:"base"`
		Body  string  `json:"body"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.Head == nil:
		invalidRequest(w, r, `"head" wasn't supplied.`)
		return
	case req.Base == nil:
		invalidRequest(w, r, `"base" wasn't supplied.`)
		return
	case req.Title == nil:
		invalidRequest(w, r, `"title" wasn't supplied.`)
		return
	}
	head := *req.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, s.cfg.Owner) {
			writeJSON(w, r, http.StatusUnprocessableEntity, validation("PullRequest", "head", "invalid", ""))
			return
		}
		head = branch
	}
	base := *req.Base
	s.pulls.mu.Lock()
	s.repo.mu.Lock()
	headSHA, okHead := s.repo.refs["refs/heads/"+head]
	baseSHA, okBase := s.repo.refs["refs/heads/"+base]
	var fail *apiError
	switch {
	case !okBase:
		e := validation("PullRequest", "base", "invalid", "")
		fail = &e
	case !okHead:
		e := validation("PullRequest", "head", "invalid", "")
		fail = &e
	case slices.ContainsFunc(s.pulls.pulls, func(p *pull) bool { return p.state == "open" && p.head == head && p.base == base }):
		e := validation("PullRequest", "", "custom", "A pull request already exists for "+s.cfg.Owner+":"+head+".")
		fail = &e
	case s.repo.isAncestor(headSHA, baseSHA):
		e := validation("PullRequest", "", "custom", "No commits between "+base+" and "+head)
		fail = &e
	}
	if fail != nil {
		s.repo.mu.Unlock()
		s.pulls.mu.Unlock()
		writeJSON(w, r, http.StatusUnprocessableEntity, fail)
		return
	}
	now := s.now()
	p := &pull{
		id: s.newID(), number: int64(len(s.pulls.pulls) + 1), title: *req.Title, body: req.Body,
		head: head, base: base, headSHA: headSHA, baseSHA: baseSHA, state: "open", created: now, update: now,
	}
	s.pulls.pulls = append(s.pulls.pulls, p)
	body := s.pullJSONLocked(p, nil, "unknown")
	s.sendPullLocked("opened", p)
	s.repo.mu.Unlock()
	s.startChecksLocked(p.head, p.headSHA)
	s.pulls.mu.Unlock()
	w.Header().Set("Location", *body.URL)
	writeJSON(w, r, http.StatusCreated, body)
}

// validation is GitHub's 422 "Validation Failed" body with one error.
func validation(resource, field, code, message string) apiError {
	return apiError{
		Message:          "Validation Failed",
		Errors:           []fieldError{{Resource: resource, Field: field, Code: code, Message: message}},
		DocumentationURL: docsURL,
		Status:           "422",
	}
}

// listPulls is GET /repos/{owner}/{repo}/pulls?state=&head=&base=,
// newest first.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := cmpOr(q.Get("state"), "open")
	head := q.Get("head")
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, s.cfg.Owner) {
			writeJSON(w, r, http.StatusOK, []pullJSON{})
			return
		}
		head = branch
	}
	pg := parsePage(q)
	s.pulls.mu.Lock()
	s.repo.mu.RLock()
	out := []pullJSON{}
	for i := len(s.pulls.pulls) - 1; i >= 0; i-- {
		p := s.pulls.pulls[i]
		if (state != "all" && p.state != state) || (head != "" && p.head != head) || (q.Get("base") != "" && p.base != q.Get("base")) {
			continue
		}
		// Lists never compute mergeability.
		out = append(out, s.pullJSONLocked(p, nil, "unknown"))
	}
	s.repo.mu.RUnlock()
	s.pulls.mu.Unlock()
	setLink(w, r, s.URL(), pg, len(out))
	writeJSON(w, r, http.StatusOK, paginate(out, pg))
}

// getPull is GET /repos/{owner}/{repo}/pulls/{pull_number}. Mergeability
// of a head and base not asked about before is null on the first read and
// computed on the next, as GitHub computes it in the background.
func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	p := s.pullByNumber(w, r)
	if p == nil {
		return
	}
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	if p.state != "open" {
		f := false
		writeJSON(w, r, http.StatusOK, s.pullJSONLocked(p, &f, "unknown"))
		return
	}
	baseHead := s.repo.refs["refs/heads/"+p.base]
	if k := p.key(baseHead); p.computedFor != k {
		p.computedFor = k
		writeJSON(w, r, http.StatusOK, s.pullJSONLocked(p, nil, "unknown"))
		return
	}
	res := s.repo.mergeLocked(p.headSHA, baseHead)
	mergeable := !res.conflict
	writeJSON(w, r, http.StatusOK, s.pullJSONLocked(p, &mergeable, s.mergeableStateLocked(p, res)))
}

// mergeableStateLocked is GitHub's mergeable_state: dirty (conflicts),
// behind (out of date where the base requires up to date), blocked (a
// required check has not passed, or a required review is missing),
// clean.
func (s *Server) mergeableStateLocked(p *pull, res mergeResult) string {
	rules := s.rulesOf(p.base)
	switch {
	case res.conflict:
		return "dirty"
	case res.behind && rules.strict:
		return "behind"
	case s.unmetCheckLocked(rules, p.headSHA) != "", rules.unmetReviews(p.approvals) != "":
		return "blocked"
	}
	return "clean"
}

// mergePull is PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge.
func (s *Server) mergePull(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		SHA           string `json:"sha"`
		MergeMethod   string `json:"merge_method"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	method := cmpOr(req.MergeMethod, "merge")
	if !slices.Contains([]string{"merge", "squash", "rebase"}, method) {
		writeJSON(w, r, http.StatusUnprocessableEntity, validation("PullRequest", "merge_method", "invalid", ""))
		return
	}
	s.pulls.mu.Lock()
	p := s.pullByNumber(w, r)
	if p == nil {
		s.pulls.mu.Unlock()
		return
	}
	s.repo.mu.Lock()
	baseRef := "refs/heads/" + p.base
	baseHead := s.repo.refs[baseRef]
	res := s.repo.mergeLocked(p.headSHA, baseHead)
	rules := s.rulesOf(p.base)
	fail := func(status int, msg string) {
		s.repo.mu.Unlock()
		s.pulls.mu.Unlock()
		writeError(w, r, status, msg)
	}
	switch {
	case p.state != "open":
		fail(http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		return
	case req.SHA != "" && req.SHA != p.headSHA:
		fail(http.StatusConflict, "Head branch was modified. Review and try the merge again.")
		return
	case p.computedFor != "" && !strings.HasSuffix(p.computedFor, ":"+baseHead):
		// The base moved since the test merge GitHub last computed.
		p.computedFor = p.key(baseHead)
		fail(http.StatusMethodNotAllowed, "Base branch was modified. Review and try the merge again.")
		return
	case res.conflict:
		fail(http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		return
	case res.behind && rules.strict:
		fail(http.StatusMethodNotAllowed, "Head branch is out of date. Review and try the merge again.")
		return
	}
	if msg := rules.refusal(s.unmetCheckLocked(rules, p.headSHA), rules.unmetReviews(p.approvals)); msg != "" {
		fail(http.StatusMethodNotAllowed, msg)
		return
	}
	hc, _ := s.repo.commit(p.headSHA)
	now := s.now()
	who := signature{name: s.cfg.AppSlug + "[bot]", email: s.botEmail(), date: now}
	title := cmpOr(req.CommitTitle, p.title+" (#"+strconv.FormatInt(p.number, 10)+")")
	c := commit{tree: res.tree, parents: []string{baseHead}, author: hc.author, committer: who, message: title}
	if req.CommitMessage != "" {
		c.message += "\n\n" + req.CommitMessage
	}
	if method == "merge" {
		c.parents = append(c.parents, p.headSHA)
		c.author = who
		c.message = cmpOr(req.CommitTitle, "Merge pull request #"+strconv.FormatInt(p.number, 10)+" from "+s.cfg.Owner+"/"+p.head)
	}
	sha := s.repo.put(c)
	s.repo.setRef(baseRef, sha)
	p.state, p.merged, p.mergeCommit, p.baseSHA = "closed", true, sha, baseHead
	p.closed, p.mergeAt, p.update = now, now, now
	s.pulls.merges++
	s.sendPullLocked("closed", p)
	s.repo.mu.Unlock()
	s.pulls.mu.Unlock()
	s.refMoved(&refMove{ref: baseRef, before: baseHead, after: sha})
	writeJSON(w, r, http.StatusOK, map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
}

type pullRequestEvent struct {
	Action       string              `json:"action"`
	Number       int64               `json:"number"`
	PullRequest  pullJSON            `json:"pull_request"`
	Before       string              `json:"before,omitempty"`
	After        string              `json:"after,omitempty"`
	Repository   repoJSON            `json:"repository"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
}

// sendPullLocked sends a pull_request webhook; callers hold pulls.mu and repo.mu.
func (s *Server) sendPullLocked(action string, p *pull) {
	u := s.urls()
	var mergeable *bool
	if p.merged {
		f := false
		mergeable = &f
	}
	s.send(branchQueue("refs/heads/"+p.head), "pull_request", action, pullRequestEvent{
		Action: action, Number: p.number, PullRequest: s.pullJSONLocked(p, mergeable, "unknown"),
		Repository: u.fullRepo(s.started), Organization: u.org(), Sender: s.bot(), Installation: s.installationRef(),
	})
}

// pullsOnPush moves the open pull requests of a pushed branch: a new head
// is synchronized and checked, a deleted head closes them. Pull requests
// into the branch have their mergeability computed anew.
func (s *Server) pullsOnPush(branch, after string) {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	s.repo.mu.RLock()
	defer s.repo.mu.RUnlock()
	now := s.now()
	for _, p := range s.pulls.pulls {
		if p.state != "open" || p.head != branch {
			continue
		}
		p.update = now
		if after == "" {
			p.state, p.closed = "closed", now
			s.sendPullLocked("closed", p)
			continue
		}
		p.headSHA = after
		s.sendPullLocked("synchronize", p)
		s.startChecksLocked(p.head, p.headSHA)
	}
}

// Merges counts the pull requests merged.
func (s *Server) merges() int64 {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	return s.pulls.merges
}

// approvePull is POST /_sim/pulls/{pull_number}/approve: a reviewer with
// write access approves the pull request, as a person does in the UI
// (the App cannot approve its own). Each call is another reviewer.
func (s *Server) approvePull(w http.ResponseWriter, r *http.Request) {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	p := s.pullByNumber(w, r)
	if p == nil {
		return
	}
	p.approvals++
	w.WriteHeader(http.StatusNoContent)
}
