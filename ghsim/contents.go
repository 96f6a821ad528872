package ghsim

import (
	"bytes"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// GitHub's "Repository contents" REST area: files read and written by
// path on a branch, each write one commit.

type contentJSON struct {
	Type        string    `json:"type"`
	Encoding    string    `json:"encoding,omitempty"`
	Size        int       `json:"size"`
	Name        string    `json:"name"`
	Path        string    `json:"path"`
	Content     *string   `json:"content,omitempty"`
	SHA         string    `json:"sha"`
	URL         string    `json:"url"`
	GitURL      string    `json:"git_url"`
	HTMLURL     string    `json:"html_url"`
	DownloadURL *string   `json:"download_url"`
	Links       linksJSON `json:"_links"`
}

type linksJSON struct {
	Self string `json:"self"`
	Git  string `json:"git"`
	HTML string `json:"html"`
}

type contentWriteJSON struct {
	Content *contentJSON  `json:"content"`
	Commit  gitCommitJSON `json:"commit"`
}

// contentJSONLocked describes the entry e at p on ref; withContent adds a
// file's bytes. Callers hold repo.mu.
func (s *Server) contentJSONLocked(ref, p string, e treeEntry, withContent bool) contentJSON {
	u := s.urls()
	q := "?ref=" + url.QueryEscape(ref)
	out := contentJSON{
		Type: "file",
		Name: path.Base(p),
		Path: p,
		SHA:  e.sha,
		URL:  u.repoAPI() + "/contents/" + p + q,
	}
	blobOrTree := "blobs"
	switch e.kind() {
	case kindTree:
		out.Type, blobOrTree = "dir", "trees"
		out.HTMLURL = u.repoHTML() + "/tree/" + ref + "/" + p
	case kindCommit:
		out.Type, blobOrTree = "submodule", "trees"
		out.HTMLURL = u.repoHTML() + "/tree/" + ref + "/" + p
	default:
		if e.mode == modeSymlink {
			out.Type = "symlink"
		}
		b, _ := s.repo.objects[e.sha].(blob)
		out.Size = len(b.data)
		out.HTMLURL = u.repoHTML() + "/blob/" + ref + "/" + p
		download := u.repoHTML() + "/raw/" + ref + "/" + p
		out.DownloadURL = &download
		if withContent {
			content := wrappedBase64(b.data)
			out.Content, out.Encoding = &content, "base64"
		}
	}
	out.GitURL = u.repoAPI() + "/git/" + blobOrTree + "/" + e.sha
	out.Links = linksJSON{Self: out.URL, Git: out.GitURL, HTML: out.HTMLURL}
	return out
}

// getContents is GET /repos/{owner}/{repo}/contents/{path}?ref=: a file
// with its content, or a directory's entries.
func (s *Server) getContents(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(r.PathValue("path"), "/")
	ref := cmpOr(r.URL.Query().Get("ref"), defaultBranch)
	respond(w, r, s.repo.mu.RLocker(), func() (int, any) {
		sha, ok := s.repo.resolve(ref)
		if !ok {
			return http.StatusNotFound, "No commit found for the ref " + ref
		}
		e, ok := s.repo.lookup(sha, p)
		if !ok {
			return http.StatusNotFound, "Not Found"
		}
		if e.kind() != kindTree {
			return http.StatusOK, s.contentJSONLocked(ref, p, e, true)
		}
		t, _ := s.repo.tree(e.sha)
		out := []contentJSON{}
		for _, child := range t.entries {
			out = append(out, s.contentJSONLocked(ref, path.Join(p, child.name), child, false))
		}
		return http.StatusOK, out
	})
}

type contentWriteRequest struct {
	Message   *string           `json:"message"`
	Content   *string           `json:"content"`
	SHA       *string           `json:"sha"`
	Branch    string            `json:"branch"`
	Committer *signatureRequest `json:"committer"`
	Author    *signatureRequest `json:"author"`
}

// putContents is PUT /repos/{owner}/{repo}/contents/{path}: create a file,
// or replace one whose blob sha the request names (409 on a stale sha),
// in one commit on the branch.
func (s *Server) putContents(w http.ResponseWriter, r *http.Request) {
	s.writeContents(w, r, false)
}

// deleteContents is DELETE /repos/{owner}/{repo}/contents/{path}, with the
// file's blob sha as the precondition.
func (s *Server) deleteContents(w http.ResponseWriter, r *http.Request) {
	s.writeContents(w, r, true)
}

func (s *Server) writeContents(w http.ResponseWriter, r *http.Request, remove bool) {
	p := strings.Trim(r.PathValue("path"), "/")
	var req contentWriteRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var data []byte
	switch {
	case req.Message == nil:
		invalidRequest(w, r, `"message" wasn't supplied.`)
		return
	case remove && req.SHA == nil:
		invalidRequest(w, r, `"sha" wasn't supplied.`)
		return
	case !remove && req.Content == nil:
		invalidRequest(w, r, `"content" wasn't supplied.`)
		return
	case p == "":
		writeError(w, r, http.StatusUnprocessableEntity, "path must name a file")
		return
	case !remove:
		var err error
		if data, err = decodeBase64(*req.Content); err != nil {
			writeError(w, r, http.StatusUnprocessableEntity, "content is not valid Base64")
			return
		}
	}
	branch := cmpOr(req.Branch, defaultBranch)
	author := s.toSignature(req.Author)
	committer := author
	if req.Committer != nil {
		committer = s.toSignature(req.Committer)
	}
	var moved *refMove
	respond(w, r, &s.repo.mu, func() (int, any) {
		refName := "refs/heads/" + branch
		head, ok := s.repo.refs[refName]
		if !ok {
			return http.StatusNotFound, "Branch " + branch + " not found"
		}
		old, exists := s.repo.lookup(head, p)
		switch {
		case exists && old.kind() == kindTree:
			return http.StatusUnprocessableEntity, p + " is a directory"
		case remove && !exists:
			return http.StatusNotFound, "Not Found"
		case exists && req.SHA == nil:
			return http.StatusUnprocessableEntity, "Invalid request.\n\n\"sha\" wasn't supplied."
		case req.SHA != nil && (!exists || old.sha != *req.SHA):
			return http.StatusConflict, p + " does not match " + *req.SHA
		}
		change := treeChange{path: p}
		if !remove {
			change.mode, change.sha = cmpOr(old.mode, modeFile), s.repo.put(blob{data: data})
		}
		c, _ := s.repo.commit(head)
		root, err := s.repo.editTree(c.tree, []treeChange{change})
		if err != nil {
			return http.StatusUnprocessableEntity, "path contains a malformed path component"
		}
		next := commit{tree: root, parents: []string{head}, author: author, committer: committer, message: *req.Message}
		sha := s.repo.put(next)
		s.repo.setRef(refName, sha)
		moved = &refMove{ref: refName, before: head, after: sha}
		out := contentWriteJSON{Commit: s.commitJSON(sha, next)}
		status := http.StatusOK
		if !remove {
			e, _ := s.repo.lookup(sha, p)
			content := s.contentJSONLocked(branch, p, e, false)
			out.Content = &content
			if !exists {
				status = http.StatusCreated
			}
		}
		return status, out
	})
	s.refMoved(moved)
}

// raw serves github.com's /{owner}/{repo}/raw/{ref}/{path}, where the ref
// may itself hold slashes: the longest prefix that names a ref wins.
func (s *Server) raw(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	s.repo.mu.RLock()
	var data []byte
	found := false
	for i := strings.LastIndex(rest, "/"); i > 0 && !found; i = strings.LastIndex(rest[:i], "/") {
		sha, ok := s.repo.resolve(rest[:i])
		if !ok {
			continue
		}
		if e, ok := s.repo.lookup(sha, rest[i+1:]); ok {
			b, isBlob := s.repo.objects[e.sha].(blob)
			data, found = b.data, isBlob
		}
	}
	s.repo.mu.RUnlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = bytes.NewReader(data).WriteTo(w)
}
