package ghsim

import (
	"strings"
)

// Pushes: every ref a request moves (git refs, contents writes, merges)
// is a push webhook, and moves the pull requests whose head or base the
// branch is.

const zeroSHA = "0000000000000000000000000000000000000000"

// refMove is one ref changed by one request: before is "" for a new ref,
// after "" for a deleted one.
type refMove struct {
	ref, before, after string
	forced             bool
}

type pushCommitJSON struct {
	ID        string         `json:"id"`
	TreeID    string         `json:"tree_id"`
	Distinct  bool           `json:"distinct"`
	Message   string         `json:"message"`
	Timestamp timestamp      `json:"timestamp"`
	URL       string         `json:"url"`
	Author    pushPersonJSON `json:"author"`
	Committer pushPersonJSON `json:"committer"`
	Added     []string       `json:"added"`
	Removed   []string       `json:"removed"`
	Modified  []string       `json:"modified"`
}

type pushPersonJSON struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username,omitempty"`
}

type pushEvent struct {
	Ref          string              `json:"ref"`
	Before       string              `json:"before"`
	After        string              `json:"after"`
	Repository   repoJSON            `json:"repository"`
	Pusher       pushPersonJSON      `json:"pusher"`
	Organization orgJSON             `json:"organization"`
	Sender       userJSON            `json:"sender"`
	Installation installationRefJSON `json:"installation"`
	Created      bool                `json:"created"`
	Deleted      bool                `json:"deleted"`
	Forced       bool                `json:"forced"`
	BaseRef      *string             `json:"base_ref"`
	Compare      string              `json:"compare"`
	Commits      []pushCommitJSON    `json:"commits"`
	HeadCommit   *pushCommitJSON     `json:"head_commit"`
}

// pushCommitsMax is how many commits a push event lists, as GitHub's 20.
const pushCommitsMax = 20

// refMoved sends the push webhook of a move and updates the pull requests
// it concerns. Callers hold no lock.
func (s *Server) refMoved(m *refMove) {
	if m == nil {
		return
	}
	branch, isBranch := strings.CutPrefix(m.ref, "refs/heads/")
	s.sendPush(*m)
	if isBranch {
		s.pullsOnPush(branch, m.after)
	}
}

func (s *Server) sendPush(m refMove) {
	u := s.urls()
	ev := pushEvent{
		Ref: m.ref, Before: cmpOr(m.before, zeroSHA), After: cmpOr(m.after, zeroSHA),
		Repository: u.fullRepo(s.started), Organization: u.org(), Sender: s.bot(), Installation: s.installationRef(),
		Pusher:  pushPersonJSON{Name: s.cfg.AppSlug + "[bot]", Email: s.botEmail()},
		Created: m.before == "", Deleted: m.after == "", Forced: m.forced, Commits: []pushCommitJSON{},
	}
	switch {
	case ev.Created:
		ev.Compare = u.repoHTML() + "/commit/" + m.after
	case ev.Deleted:
		ev.Compare = u.repoHTML() + "/compare/" + m.before[:12] + "...000000000000"
	default:
		ev.Compare = u.repoHTML() + "/compare/" + m.before[:12] + "..." + m.after[:12]
	}
	s.repo.mu.RLock()
	if m.after != "" {
		// The commits new to the ref, oldest first.
		var shas []string
		for sha := m.after; sha != "" && sha != m.before && len(shas) < pushCommitsMax; {
			c, ok := s.repo.commit(sha)
			if !ok {
				break
			}
			shas = append(shas, sha)
			if m.before == "" || len(c.parents) == 0 || s.repo.isAncestor(sha, m.before) {
				break
			}
			sha = c.parents[0]
		}
		for i := len(shas) - 1; i >= 0; i-- {
			ev.Commits = append(ev.Commits, s.pushCommitLocked(shas[i]))
		}
		head := s.pushCommitLocked(m.after)
		ev.HeadCommit = &head
	}
	s.repo.mu.RUnlock()
	s.send(branchQueue(m.ref), "push", "", ev)
}

// branchQueue delivers the events of one branch in order.
func branchQueue(ref string) string { return "ref-" + ref }

// pushCommitLocked describes a commit as a push lists it; callers hold repo.mu.
func (s *Server) pushCommitLocked(sha string) pushCommitJSON {
	c, _ := s.repo.commit(sha)
	out := pushCommitJSON{
		ID: sha, TreeID: c.tree, Distinct: true, Message: c.message, Timestamp: timestamp(c.committer.date),
		URL:       s.urls().repoHTML() + "/commit/" + sha,
		Author:    pushPersonJSON{Name: c.author.name, Email: c.author.email},
		Committer: pushPersonJSON{Name: c.committer.name, Email: c.committer.email},
		Added:     []string{}, Removed: []string{}, Modified: []string{},
	}
	parent := map[string]treeEntry{}
	if len(c.parents) > 0 {
		pc, _ := s.repo.commit(c.parents[0])
		parent = s.repo.flatten(pc.tree)
	}
	now := s.repo.flatten(c.tree)
	for p, e := range now {
		switch old, ok := parent[p]; {
		case !ok:
			out.Added = append(out.Added, p)
		case old.sha != e.sha:
			out.Modified = append(out.Modified, p)
		}
	}
	for p := range parent {
		if _, ok := now[p]; !ok {
			out.Removed = append(out.Removed, p)
		}
	}
	return out
}

// flatten lists the files of a tree by path; callers hold mu.
func (repo *repository) flatten(treeSHA string) map[string]treeEntry {
	out := map[string]treeEntry{}
	var walk func(prefix, sha string)
	walk = func(prefix, sha string) {
		t, _ := repo.tree(sha)
		for _, e := range t.entries {
			if e.kind() == kindTree {
				walk(prefix+e.name+"/", e.sha)
				continue
			}
			out[prefix+e.name] = e
		}
	}
	walk("", treeSHA)
	return out
}
