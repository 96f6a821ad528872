package ghsim

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// repository is the simulated repository's git data: content-addressed
// blobs, trees and commits under their real git object ids, and the refs
// that name commits. Releases target its commits, runs record the commit
// they ran on, and pull requests and checks can hang off its refs.
type repository struct {
	mu      sync.RWMutex
	objects map[string]gitObject // by sha
	refs    map[string]string    // full ref name (refs/heads/main) -> commit sha
}

// Git object kinds, as the API names them.
const (
	kindBlob   = "blob"
	kindTree   = "tree"
	kindCommit = "commit"
)

// File modes the trees API accepts.
const (
	modeFile    = "100644"
	modeExec    = "100755"
	modeDir     = "040000"
	modeSubmod  = "160000"
	modeSymlink = "120000"
)

type gitObject interface {
	kind() string
	// encode is the object's body in git's format, which its sha hashes.
	encode() []byte
}

type blob struct{ data []byte }

type tree struct{ entries []treeEntry } // in git order

type treeEntry struct {
	name, mode, sha string
}

// kind is the kind of object the entry names.
func (e treeEntry) kind() string {
	switch e.mode {
	case modeDir:
		return kindTree
	case modeSubmod:
		return kindCommit
	}
	return kindBlob
}

type commit struct {
	tree      string
	parents   []string
	author    signature
	committer signature
	message   string
}

type signature struct {
	name, email string
	date        time.Time
}

func (blob) kind() string     { return kindBlob }
func (b blob) encode() []byte { return b.data }

func (tree) kind() string { return kindTree }
func (t tree) encode() []byte {
	var out []byte
	for _, e := range t.entries {
		raw, _ := hex.DecodeString(e.sha)
		// git writes directory modes without the leading zero.
		out = fmt.Appendf(out, "%s %s\x00", strings.TrimPrefix(e.mode, "0"), e.name)
		out = append(out, raw...)
	}
	return out
}

func (commit) kind() string { return kindCommit }
func (c commit) encode() []byte {
	out := fmt.Appendf(nil, "tree %s\n", c.tree)
	for _, p := range c.parents {
		out = fmt.Appendf(out, "parent %s\n", p)
	}
	out = fmt.Appendf(out, "author %s\ncommitter %s\n\n%s", c.author, c.committer, c.message)
	return out
}

func (s signature) String() string {
	return fmt.Sprintf("%s <%s> %d +0000", s.name, s.email, s.date.Unix())
}

// objectSHA is git's object id: SHA-1 over "{kind} {size}\0{body}".
func objectSHA(o gitObject) string {
	body := o.encode()
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", o.kind(), len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// sortEntries puts entries in git's order: by name, a directory sorting
// as if its name ended in a slash.
func sortEntries(entries []treeEntry) {
	key := func(e treeEntry) string {
		if e.mode == modeDir {
			return e.name + "/"
		}
		return e.name
	}
	slices.SortFunc(entries, func(a, b treeEntry) int { return cmp.Compare(key(a), key(b)) })
}

func newRepository() *repository {
	return &repository{objects: map[string]gitObject{}, refs: map[string]string{}}
}

// put stores o and returns its sha; callers hold mu for writing.
func (repo *repository) put(o gitObject) string {
	sha := objectSHA(o)
	repo.objects[sha] = o
	return sha
}

func (repo *repository) commit(sha string) (commit, bool) {
	c, ok := repo.objects[sha].(commit)
	return c, ok
}

func (repo *repository) tree(sha string) (tree, bool) {
	t, ok := repo.objects[sha].(tree)
	return t, ok
}

// setRef points ref name at commit sha, or deletes it when sha is empty;
// callers hold mu for writing. Every ref change goes through here, so that
// what follows one (a push webhook, checks on a pull request's head) is
// added in one place.
func (repo *repository) setRef(name, sha string) {
	if sha == "" {
		delete(repo.refs, name)
		return
	}
	repo.refs[name] = sha
}

// resolve turns a branch name, a full or short ref, or a commit sha into
// the commit it names, as GitHub's ref query parameters do.
func (repo *repository) resolve(ref string) (string, bool) {
	for _, name := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref, "refs/" + ref} {
		if sha, ok := repo.refs[name]; ok {
			return sha, true
		}
	}
	if _, ok := repo.commit(ref); ok {
		return ref, true
	}
	return "", false
}

// lookup finds the entry at a slash-separated path in the tree of commit
// sha; the empty path is the root tree.
func (repo *repository) lookup(commitSHA, p string) (treeEntry, bool) {
	c, ok := repo.commit(commitSHA)
	if !ok {
		return treeEntry{}, false
	}
	entry := treeEntry{mode: modeDir, sha: c.tree}
	for _, name := range splitPath(p) {
		t, ok := repo.tree(entry.sha)
		if !ok {
			return treeEntry{}, false
		}
		i := slices.IndexFunc(t.entries, func(e treeEntry) bool { return e.name == name })
		if i < 0 {
			return treeEntry{}, false
		}
		entry = t.entries[i]
	}
	return entry, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// treeChange sets the entry at a path, or removes it when sha is empty.
type treeChange struct {
	path, mode, sha string
}

var errBadPath = errors.New("path is not valid")

// editTree applies changes to the tree base (empty: an empty tree) and
// returns the new tree's sha, creating the trees in between; directories
// left empty disappear, as in git. Callers hold mu for writing.
func (repo *repository) editTree(base string, changes []treeChange) (string, error) {
	var entries []treeEntry
	if base != "" {
		t, ok := repo.tree(base)
		if !ok {
			return "", fmt.Errorf("tree %s not found", base)
		}
		entries = slices.Clone(t.entries)
	}
	// Changes below a directory are applied to it in one recursive call.
	below := map[string][]treeChange{}
	var dirs []string
	for _, ch := range changes {
		parts := splitPath(ch.path)
		if len(parts) == 0 || slices.ContainsFunc(parts, func(p string) bool { return p == "." || p == ".." }) {
			return "", errBadPath
		}
		name := parts[0]
		if len(parts) > 1 {
			if _, seen := below[name]; !seen {
				dirs = append(dirs, name)
			}
			below[name] = append(below[name], treeChange{path: path.Join(parts[1:]...), mode: ch.mode, sha: ch.sha})
			continue
		}
		entries = slices.DeleteFunc(entries, func(e treeEntry) bool { return e.name == name })
		if ch.sha != "" {
			entries = append(entries, treeEntry{name: name, mode: ch.mode, sha: ch.sha})
		}
	}
	for _, name := range dirs {
		sub := ""
		if i := slices.IndexFunc(entries, func(e treeEntry) bool { return e.name == name }); i >= 0 {
			if entries[i].mode == modeDir {
				sub = entries[i].sha
			}
			entries = slices.Delete(entries, i, i+1)
		}
		sha, err := repo.editTree(sub, below[name])
		if err != nil {
			return "", err
		}
		if t, _ := repo.tree(sha); len(t.entries) > 0 {
			entries = append(entries, treeEntry{name: name, mode: modeDir, sha: sha})
		}
	}
	sortEntries(entries)
	return repo.put(tree{entries: entries}), nil
}

// isAncestor reports whether commit a is b or one of b's ancestors.
func (repo *repository) isAncestor(a, b string) bool {
	seen := map[string]bool{}
	queue := []string{b}
	for len(queue) > 0 {
		sha := queue[0]
		queue = queue[1:]
		if sha == a {
			return true
		}
		if seen[sha] {
			continue
		}
		seen[sha] = true
		c, _ := repo.commit(sha)
		queue = append(queue, c.parents...)
	}
	return false
}

// seed makes the default branch's first commit holding files, path -> content.
func (repo *repository) seed(branch string, files map[string][]byte, who signature) error {
	var changes []treeChange
	for _, p := range slices.Sorted(maps.Keys(files)) {
		changes = append(changes, treeChange{path: p, mode: modeFile, sha: repo.put(blob{data: files[p]})})
	}
	root, err := repo.editTree("", changes)
	if err != nil {
		return err
	}
	repo.setRef("refs/heads/"+branch, repo.put(commit{tree: root, author: who, committer: who, message: "Initial commit"}))
	return nil
}
