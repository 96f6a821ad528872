package ghsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The repository and its git database: GitHub's "Repositories" and "Git
// database" REST areas (refs, commits, trees, blobs). Contents are in
// contents.go.

type gitRefJSON struct {
	Ref    string           `json:"ref"`
	NodeID string           `json:"node_id"`
	URL    string           `json:"url"`
	Object gitRefObjectJSON `json:"object"`
}

type gitRefObjectJSON struct {
	SHA  string `json:"sha"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

type gitSignatureJSON struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  timestamp `json:"date"`
}

type gitCommitJSON struct {
	SHA          string           `json:"sha"`
	NodeID       string           `json:"node_id"`
	URL          string           `json:"url"`
	HTMLURL      string           `json:"html_url"`
	Author       gitSignatureJSON `json:"author"`
	Committer    gitSignatureJSON `json:"committer"`
	Tree         gitShaURLJSON    `json:"tree"`
	Message      string           `json:"message"`
	Parents      []gitParentJSON  `json:"parents"`
	Verification verificationJSON `json:"verification"`
}

type gitShaURLJSON struct {
	SHA string `json:"sha"`
	URL string `json:"url"`
}

type gitParentJSON struct {
	SHA     string `json:"sha"`
	URL     string `json:"url"`
	HTMLURL string `json:"html_url"`
}

type verificationJSON struct {
	Verified   bool      `json:"verified"`
	Reason     string    `json:"reason"`
	Signature  *string   `json:"signature"`
	Payload    *string   `json:"payload"`
	VerifiedAt timestamp `json:"verified_at"`
}

type gitTreeJSON struct {
	SHA       string             `json:"sha"`
	URL       string             `json:"url"`
	Tree      []gitTreeEntryJSON `json:"tree"`
	Truncated bool               `json:"truncated"`
}

type gitTreeEntryJSON struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	SHA  string `json:"sha"`
	Size *int   `json:"size,omitempty"`
	URL  string `json:"url,omitempty"`
}

type gitBlobJSON struct {
	SHA      string `json:"sha"`
	NodeID   string `json:"node_id"`
	Size     int    `json:"size"`
	URL      string `json:"url"`
	Content  string `json:"content"`
	Encoding string `json:"encoding"`
}

// shaNodeID is the node id of an object named by a sha.
func shaNodeID(kind, sha string) string {
	return base64.StdEncoding.EncodeToString([]byte(kind + ":" + sha))
}

func (s *Server) refJSON(name, sha string) gitRefJSON {
	api := s.urls().repoAPI()
	return gitRefJSON{
		Ref:    name,
		NodeID: shaNodeID("Ref", name),
		URL:    api + "/git/" + name,
		Object: gitRefObjectJSON{SHA: sha, Type: kindCommit, URL: api + "/git/commits/" + sha},
	}
}

func signatureJSON(sig signature) gitSignatureJSON {
	return gitSignatureJSON{Name: sig.name, Email: sig.email, Date: timestamp(sig.date)}
}

func (s *Server) commitJSON(sha string, c commit) gitCommitJSON {
	u := s.urls()
	out := gitCommitJSON{
		SHA:          sha,
		NodeID:       shaNodeID("Commit", sha),
		URL:          u.repoAPI() + "/git/commits/" + sha,
		HTMLURL:      u.repoHTML() + "/commit/" + sha,
		Author:       signatureJSON(c.author),
		Committer:    signatureJSON(c.committer),
		Tree:         gitShaURLJSON{SHA: c.tree, URL: u.repoAPI() + "/git/trees/" + c.tree},
		Message:      c.message,
		Parents:      []gitParentJSON{},
		Verification: verificationJSON{Reason: "unsigned"},
	}
	for _, p := range c.parents {
		out.Parents = append(out.Parents, gitParentJSON{SHA: p, URL: u.repoAPI() + "/git/commits/" + p, HTMLURL: u.repoHTML() + "/commit/" + p})
	}
	return out
}

// treeJSONLocked lists tree sha, recursively when asked; callers hold repo.mu.
func (s *Server) treeJSONLocked(sha string, recursive bool) gitTreeJSON {
	api := s.urls().repoAPI()
	out := gitTreeJSON{SHA: sha, URL: api + "/git/trees/" + sha, Tree: []gitTreeEntryJSON{}}
	var walk func(prefix, sha string)
	walk = func(prefix, sha string) {
		t, _ := s.repo.tree(sha)
		for _, e := range t.entries {
			entry := gitTreeEntryJSON{Path: prefix + e.name, Mode: e.mode, Type: e.kind(), SHA: e.sha}
			switch e.kind() {
			case kindBlob:
				b, _ := s.repo.objects[e.sha].(blob)
				size := len(b.data)
				entry.Size, entry.URL = &size, api+"/git/blobs/"+e.sha
			case kindTree:
				entry.URL = api + "/git/trees/" + e.sha
			}
			out.Tree = append(out.Tree, entry)
			if recursive && e.kind() == kindTree {
				walk(prefix+e.name+"/", e.sha)
			}
		}
	}
	walk("", sha)
	return out
}

// getRepo is GET /repos/{owner}/{repo}.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.urls().fullRepo(s.started))
}

// repoCommitJSON is a commit as the Commits API shows it (the Git
// database's commit inside, GitHub's accounts beside it; no diff stats).
type repoCommitJSON struct {
	URL         string          `json:"url"`
	SHA         string          `json:"sha"`
	NodeID      string          `json:"node_id"`
	HTMLURL     string          `json:"html_url"`
	CommentsURL string          `json:"comments_url"`
	Commit      repoCommitInner `json:"commit"`
	Author      *userJSON       `json:"author"`
	Committer   *userJSON       `json:"committer"`
	Parents     []gitParentJSON `json:"parents"`
}

type repoCommitInner struct {
	URL          string           `json:"url"`
	Author       gitSignatureJSON `json:"author"`
	Committer    gitSignatureJSON `json:"committer"`
	Message      string           `json:"message"`
	Tree         gitShaURLJSON    `json:"tree"`
	CommentCount int              `json:"comment_count"`
	Verification verificationJSON `json:"verification"`
}

// getRepoCommit is GET /repos/{owner}/{repo}/commits/{ref}: the commit a
// sha, branch or tag names.
func (s *Server) getRepoCommit(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	respond(w, r, s.repo.mu.RLocker(), func() (int, any) {
		sha, ok := s.repo.resolve(ref)
		if !ok {
			return http.StatusUnprocessableEntity, "No commit found for SHA: " + ref
		}
		c, _ := s.repo.commit(sha)
		g := s.commitJSON(sha, c)
		out := repoCommitJSON{
			URL:         s.urls().repoAPI() + "/commits/" + sha,
			SHA:         sha,
			NodeID:      g.NodeID,
			HTMLURL:     g.HTMLURL,
			CommentsURL: s.urls().repoAPI() + "/commits/" + sha + "/comments",
			Commit: repoCommitInner{
				URL: g.URL, Author: g.Author, Committer: g.Committer, Message: g.Message, Tree: g.Tree, Verification: g.Verification,
			},
			Parents: g.Parents,
		}
		if c.author.email == s.botEmail() {
			bot := s.bot()
			out.Author, out.Committer = &bot, &bot
		}
		return http.StatusOK, out
	})
}

// getRef is GET /repos/{owner}/{repo}/git/ref/{ref}, ref as heads/main.
func (s *Server) getRef(w http.ResponseWriter, r *http.Request) {
	name := "refs/" + r.PathValue("ref")
	s.repo.mu.RLock()
	sha, ok := s.repo.refs[name]
	s.repo.mu.RUnlock()
	if !ok {
		notFound(w, r)
		return
	}
	writeJSON(w, r, http.StatusOK, s.refJSON(name, sha))
}

// matchingRefs is GET /repos/{owner}/{repo}/git/matching-refs/{ref}: the
// refs whose names start with refs/{ref}, sorted, possibly none.
func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request) {
	prefix := "refs/" + r.PathValue("ref")
	s.repo.mu.RLock()
	var names []string
	for name := range s.repo.refs {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := []gitRefJSON{}
	for _, name := range names {
		out = append(out, s.refJSON(name, s.repo.refs[name]))
	}
	s.repo.mu.RUnlock()
	writeJSON(w, r, http.StatusOK, out)
}

var (
	// refPattern is what git check-ref-format accepts, roughly.
	refPattern = regexp.MustCompile(`^refs/[A-Za-z0-9._/+-]+/[A-Za-z0-9._/+-]+$`)
)

func validRefName(name string) bool {
	return refPattern.MatchString(name) && !strings.Contains(name, "..") && !strings.Contains(name, "//") &&
		!strings.HasSuffix(name, "/") && !strings.HasSuffix(name, ".lock") && !strings.HasSuffix(name, ".")
}

// createRef is POST /repos/{owner}/{repo}/git/refs with {"ref", "sha"}.
func (s *Server) createRef(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.Ref == nil:
		invalidRequest(w, r, `"ref" wasn't supplied.`)
		return
	case req.SHA == nil:
		invalidRequest(w, r, `"sha" wasn't supplied.`)
		return
	case !strings.HasPrefix(*req.Ref, "refs/") || strings.Count(*req.Ref, "/") < 2:
		writeError(w, r, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.")
		return
	case !validRefName(*req.Ref):
		writeError(w, r, http.StatusUnprocessableEntity, *req.Ref+" is not a valid ref name.")
		return
	}
	name, sha := *req.Ref, *req.SHA
	var moved *refMove
	respond(w, r, &s.repo.mu, func() (int, any) {
		if _, ok := s.repo.commit(sha); !ok {
			return http.StatusUnprocessableEntity, "Object does not exist"
		}
		if _, ok := s.repo.refs[name]; ok {
			return http.StatusUnprocessableEntity, "Reference already exists"
		}
		s.repo.setRef(name, sha)
		moved = &refMove{ref: name, after: sha}
		body := s.refJSON(name, sha)
		w.Header().Set("Location", body.URL)
		return http.StatusCreated, body
	})
	s.refMoved(moved)
}

// updateRef is PATCH /repos/{owner}/{repo}/git/refs/{ref} with {"sha",
// "force"}: a fast-forward, or any move with force.
func (s *Server) updateRef(w http.ResponseWriter, r *http.Request) {
	name := "refs/" + r.PathValue("ref")
	var req struct {
		SHA   *string `json:"sha"`
		Force bool    `json:"force"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.SHA == nil {
		invalidRequest(w, r, `"sha" wasn't supplied.`)
		return
	}
	sha := *req.SHA
	var moved *refMove
	respond(w, r, &s.repo.mu, func() (int, any) {
		old, ok := s.repo.refs[name]
		if !ok {
			return http.StatusUnprocessableEntity, "Reference does not exist"
		}
		if _, ok := s.repo.commit(sha); !ok {
			return http.StatusUnprocessableEntity, "Object does not exist"
		}
		if !req.Force && !s.repo.isAncestor(old, sha) {
			return http.StatusUnprocessableEntity, "Update is not a fast forward"
		}
		s.repo.setRef(name, sha)
		if old != sha {
			moved = &refMove{ref: name, before: old, after: sha, forced: !s.repo.isAncestor(old, sha)}
		}
		return http.StatusOK, s.refJSON(name, sha)
	})
	s.refMoved(moved)
}

// deleteRef is DELETE /repos/{owner}/{repo}/git/refs/{ref}.
func (s *Server) deleteRef(w http.ResponseWriter, r *http.Request) {
	name := "refs/" + r.PathValue("ref")
	var moved *refMove
	respond(w, r, &s.repo.mu, func() (int, any) {
		old, ok := s.repo.refs[name]
		if !ok {
			return http.StatusUnprocessableEntity, "Reference does not exist"
		}
		s.repo.setRef(name, "")
		moved = &refMove{ref: name, before: old}
		return http.StatusNoContent, nil
	})
	s.refMoved(moved)
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	respond(w, r, s.repo.mu.RLocker(), func() (int, any) {
		c, ok := s.repo.commit(sha)
		if !ok {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.commitJSON(sha, c)
	})
}

type signatureRequest struct {
	Name  string     `json:"name"`
	Email string     `json:"email"`
	Date  *time.Time `json:"date"`
}

// toSignature is who made a commit: given, or the app's bot, as GitHub
// signs what an installation commits.
func (s *Server) toSignature(req *signatureRequest) signature {
	sig := signature{name: s.cfg.AppSlug + "[bot]", email: s.botEmail(), date: s.now()}
	if req != nil {
		sig.name, sig.email = cmpOr(req.Name, sig.name), cmpOr(req.Email, sig.email)
		if req.Date != nil {
			sig.date = req.Date.UTC().Truncate(time.Second)
		}
	}
	return sig
}

func (s *Server) botEmail() string {
	return s.cfg.AppSlug + "[bot]@users.noreply.github.com"
}

// createCommit is POST /repos/{owner}/{repo}/git/commits with {"message",
// "tree", "parents", "author", "committer"}.
func (s *Server) createCommit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message   *string           `json:"message"`
		Tree      *string           `json:"tree"`
		Parents   []string          `json:"parents"`
		Author    *signatureRequest `json:"author"`
		Committer *signatureRequest `json:"committer"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.Message == nil:
		invalidRequest(w, r, `"message" wasn't supplied.`)
		return
	case req.Tree == nil:
		invalidRequest(w, r, `"tree" wasn't supplied.`)
		return
	}
	c := commit{tree: *req.Tree, parents: req.Parents, author: s.toSignature(req.Author), message: *req.Message}
	c.committer = c.author
	if req.Committer != nil {
		c.committer = s.toSignature(req.Committer)
	}
	respond(w, r, &s.repo.mu, func() (int, any) {
		if _, ok := s.repo.tree(c.tree); !ok {
			return http.StatusUnprocessableEntity, "Tree SHA does not exist"
		}
		for _, p := range c.parents {
			if _, ok := s.repo.commit(p); !ok {
				return http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object"
			}
		}
		sha := s.repo.put(c)
		body := s.commitJSON(sha, c)
		w.Header().Set("Location", body.URL)
		return http.StatusCreated, body
	})
}

func (s *Server) getTree(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	// GitHub takes any value of recursive as yes; leave it out for no.
	recursive := r.URL.Query().Has("recursive")
	respond(w, r, s.repo.mu.RLocker(), func() (int, any) {
		if resolved, ok := s.repo.resolve(sha); ok {
			c, _ := s.repo.commit(resolved)
			sha = c.tree
		}
		if _, ok := s.repo.tree(sha); !ok {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.treeJSONLocked(sha, recursive)
	})
}

var treeModes = []string{modeFile, modeExec, modeDir, modeSubmod, modeSymlink}

// createTree is POST /repos/{owner}/{repo}/git/trees with {"base_tree",
// "tree": [{"path", "mode", "type", "sha" or "content"}]}; a null sha
// removes the path.
func (s *Server) createTree(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path    string          `json:"path"`
			Mode    string          `json:"mode"`
			Type    string          `json:"type"`
			SHA     json.RawMessage `json:"sha"`
			Content *string         `json:"content"`
		} `json:"tree"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Tree == nil {
		invalidRequest(w, r, `"tree" wasn't supplied.`)
		return
	}
	type item struct {
		change  treeChange
		content *string
	}
	items := make([]item, 0, len(req.Tree))
	for _, e := range req.Tree {
		var sha *string
		if len(e.SHA) > 0 && json.Unmarshal(e.SHA, &sha) != nil {
			invalidRequest(w, r, "For 'items/sha', "+string(e.SHA)+" is not a string or null.")
			return
		}
		switch {
		case !slices.Contains(treeModes, e.Mode):
			invalidRequest(w, r, "For 'items/mode', \""+e.Mode+"\" is not one of "+strings.Join(treeModes, ", ")+".")
			return
		case e.Type != kindBlob && e.Type != kindTree && e.Type != kindCommit:
			invalidRequest(w, r, "For 'items/type', \""+e.Type+"\" is not one of blob, tree, commit.")
			return
		case (treeEntry{mode: e.Mode}).kind() != e.Type:
			writeError(w, r, http.StatusUnprocessableEntity, "tree.type "+e.Type+" does not match tree.mode "+e.Mode)
			return
		case e.Content != nil && e.Type != kindBlob:
			writeError(w, r, http.StatusUnprocessableEntity, "tree.content can only be given for a blob")
			return
		case strings.HasPrefix(e.Path, "/"):
			writeError(w, r, http.StatusUnprocessableEntity, "tree.path cannot start with a slash")
			return
		case e.Content != nil && sha != nil:
			writeError(w, r, http.StatusUnprocessableEntity, "tree.sha and tree.content cannot both be set")
			return
		case e.Content == nil && len(e.SHA) == 0:
			writeError(w, r, http.StatusUnprocessableEntity, "Must supply either tree.sha or tree.content")
			return
		}
		it := item{change: treeChange{path: e.Path, mode: e.Mode}, content: e.Content}
		if sha != nil {
			it.change.sha = *sha
		}
		items = append(items, it)
	}
	respond(w, r, &s.repo.mu, func() (int, any) {
		if req.BaseTree != "" {
			if _, ok := s.repo.tree(req.BaseTree); !ok {
				return http.StatusUnprocessableEntity, "base_tree is not a valid tree oid"
			}
		}
		changes := make([]treeChange, 0, len(items))
		for _, it := range items {
			ch := it.change
			if it.content != nil {
				ch.sha = s.repo.put(blob{data: []byte(*it.content)})
			} else if ch.sha != "" {
				o, ok := s.repo.objects[ch.sha]
				if !ok || o.kind() != (treeEntry{mode: ch.mode}).kind() {
					return http.StatusUnprocessableEntity, "tree.sha " + ch.sha + " is not a valid " + (treeEntry{mode: ch.mode}).kind()
				}
			}
			changes = append(changes, ch)
		}
		sha, err := s.repo.editTree(req.BaseTree, changes)
		if err != nil {
			return http.StatusUnprocessableEntity, "tree.path contains a malformed path component"
		}
		body := s.treeJSONLocked(sha, false)
		w.Header().Set("Location", body.URL)
		return http.StatusCreated, body
	})
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	respond(w, r, s.repo.mu.RLocker(), func() (int, any) {
		b, ok := s.repo.objects[sha].(blob)
		if !ok {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, gitBlobJSON{
			SHA:      sha,
			NodeID:   shaNodeID("Blob", sha),
			Size:     len(b.data),
			URL:      s.urls().repoAPI() + "/git/blobs/" + sha,
			Content:  wrappedBase64(b.data),
			Encoding: "base64",
		}
	})
}

// createBlob is POST /repos/{owner}/{repo}/git/blobs with {"content",
// "encoding"} (utf-8, the default, or base64).
func (s *Server) createBlob(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Content == nil {
		invalidRequest(w, r, `"content" wasn't supplied.`)
		return
	}
	data := []byte(*req.Content)
	switch req.Encoding {
	case "", "utf-8":
	case "base64":
		var err error
		if data, err = decodeBase64(*req.Content); err != nil {
			writeError(w, r, http.StatusUnprocessableEntity, "content is not valid Base64")
			return
		}
	default:
		writeError(w, r, http.StatusUnprocessableEntity, "encoding must be one of utf-8, base64")
		return
	}
	s.repo.mu.Lock()
	sha := s.repo.put(blob{data: data})
	s.repo.mu.Unlock()
	url := s.urls().repoAPI() + "/git/blobs/" + sha
	w.Header().Set("Location", url)
	writeJSON(w, r, http.StatusCreated, gitShaURLJSON{SHA: sha, URL: url})
}

// wrappedBase64 is base64 in lines of 60 characters, each ending in a
// newline, as GitHub sends file and blob contents.
func wrappedBase64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	return b.String()
}

// decodeBase64 accepts base64 with line breaks, as GitHub does.
func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(s))
}
