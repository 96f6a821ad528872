package ghclient

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-github/v66/github"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Status returns the HTTP status and GitHub's message of a failed call,
// or 0 when the call got no answer.
func Status(err error) (code int, message string) {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode, er.Message
	}
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		return http.StatusAccepted, ""
	}
	return 0, ""
}

// IsNotFound reports whether GitHub answered 404.
func IsNotFound(err error) bool {
	code, _ := Status(err)
	return code == http.StatusNotFound
}

type fileKey struct{ ref, path string }

type fileAt struct {
	content []byte
	blobSHA string
}

// cachedFileBytes bounds the files kept: kernels.json at the heads of the
// default branch and of the open add-kernel branches that reconcile and
// re-apply read again and again (GitHub's contents API serves files up to
// 1 MB).
const cachedFileBytes = 8 << 20

// fileCache keeps the files read at a commit, up to cachedFileBytes of
// them, the one read the longest ago going first.
type fileCache struct {
	mu    sync.Mutex
	files *simplelru.LRU[fileKey, fileAt]
	bytes int
}

func (c *fileCache) get(k fileKey) (fileAt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		return fileAt{}, false
	}
	return c.files.Get(k)
}

func (c *fileCache) add(k fileKey, f fileAt) {
	if len(f.content) > cachedFileBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		// Bounded by bytes, not by count.
		c.files, _ = simplelru.NewLRU[fileKey, fileAt](math.MaxInt32, func(_ fileKey, f fileAt) { c.bytes -= len(f.content) })
	}
	if c.files.Contains(k) {
		return
	}
	c.files.Add(k, f)
	for c.bytes += len(f.content); c.bytes > cachedFileBytes; {
		c.files.RemoveOldest()
	}
}

// File reads a file at a ref: its content and its blob sha. A file at a
// commit's sha read lately is not read again. The content is shared: do
// not change it.
func (c *Client) File(ctx context.Context, ref, path string) (content []byte, blobSHA string, err error) {
	if f, ok := c.files.get(fileKey{ref, path}); ok {
		return f.content, f.blobSHA, nil
	}
	gh, err := c.installation(ctx)
	if err != nil {
		return nil, "", err
	}
	f, _, _, err := gh.Repositories.GetContents(ctx, c.repo.Owner, c.repo.Name, path, &github.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return nil, "", fmt.Errorf("get %s at %s: %w", path, ref, err)
	}
	if f == nil {
		return nil, "", fmt.Errorf("get %s at %s: a directory, not a file", path, ref)
	}
	// GetContent decodes base64, and refuses the "none" of a file over 1 MB.
	text, err := f.GetContent()
	if err != nil {
		return nil, "", fmt.Errorf("get %s at %s: %w", path, ref, err)
	}
	data := []byte(text)
	if isSHA(ref) {
		c.files.add(fileKey{ref, path}, fileAt{data, f.GetSHA()})
	}
	return data, f.GetSHA(), nil
}

// isSHA reports whether ref is a full commit sha, which names one commit
// for ever, not a branch or a tag that moves.
func isSHA(ref string) bool {
	if len(ref) != 40 && len(ref) != 64 {
		return false
	}
	for _, r := range ref {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// BranchHead returns the commit a branch points at; found is false when
// there is no such branch.
func (c *Client) BranchHead(ctx context.Context, branch string) (sha string, found bool, err error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return "", false, err
	}
	ref, _, err := gh.Git.GetRef(ctx, c.repo.Owner, c.repo.Name, "heads/"+branch)
	switch {
	case IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("get branch %s: %w", branch, err)
	}
	return ref.GetObject().GetSHA(), true, nil
}

// commitOf is what the service reads of a commit.
type commitOf struct {
	tree, parent string
}

// commit reads a commit, once while it is read lately: a commit never
// changes, and re-applying fifty branches onto one head reads that head
// fifty times.
func (c *Client) commit(ctx context.Context, gh *github.Client, sha string) (commitOf, error) {
	if v, ok := c.commits.Get(sha); ok {
		return v, nil
	}
	got, _, err := gh.Git.GetCommit(ctx, c.repo.Owner, c.repo.Name, sha)
	if err != nil {
		return commitOf{}, fmt.Errorf("get commit %s: %w", sha, err)
	}
	out := commitOf{tree: got.GetTree().GetSHA()}
	if len(got.Parents) > 0 {
		out.parent = got.Parents[0].GetSHA()
	}
	c.commits.Add(sha, out)
	return out, nil
}

// Parent returns the first parent of a commit.
func (c *Client) Parent(ctx context.Context, sha string) (string, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return "", err
	}
	commit, err := c.commit(ctx, gh, sha)
	return commit.parent, err
}

// CommitFile makes a commit on top of parent that sets one file, and
// returns its sha. It moves no branch.
func (c *Client) CommitFile(ctx context.Context, parent, path string, content []byte, message string) (string, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return "", err
	}
	base, err := c.commit(ctx, gh, parent)
	if err != nil {
		return "", err
	}
	tree, _, err := gh.Git.CreateTree(ctx, c.repo.Owner, c.repo.Name, base.tree, []*github.TreeEntry{{
		Path: github.String(path), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String(string(content)),
	}})
	if err != nil {
		return "", fmt.Errorf("create tree: %w", err)
	}
	commit, _, err := gh.Git.CreateCommit(ctx, c.repo.Owner, c.repo.Name, &github.Commit{
		Message: github.String(message), Tree: &github.Tree{SHA: tree.SHA}, Parents: []*github.Commit{{SHA: github.String(parent)}},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("create commit: %w", err)
	}
	return commit.GetSHA(), nil
}

// ErrBranchExists means a branch to be created is there already.
var ErrBranchExists = errors.New("the branch exists already")

// CreateBranch makes a branch at a commit; ErrBranchExists when it exists.
func (c *Client) CreateBranch(ctx context.Context, branch, sha string) error {
	gh, err := c.installation(ctx)
	if err != nil {
		return err
	}
	_, _, err = gh.Git.CreateRef(ctx, c.repo.Owner, c.repo.Name, &github.Reference{
		Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)},
	})
	if code, msg := Status(err); code == http.StatusUnprocessableEntity && strings.Contains(msg, "already exists") {
		return ErrBranchExists
	}
	if err != nil {
		return fmt.Errorf("create branch %s: %w", branch, err)
	}
	return nil
}

// ForceBranch moves a branch to a commit, whether or not it descends from
// the branch's head.
func (c *Client) ForceBranch(ctx context.Context, branch, sha string) error {
	gh, err := c.installation(ctx)
	if err != nil {
		return err
	}
	_, _, err = gh.Git.UpdateRef(ctx, c.repo.Owner, c.repo.Name, &github.Reference{
		Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: github.String(sha)},
	}, true)
	if err != nil {
		return fmt.Errorf("update branch %s: %w", branch, err)
	}
	return nil
}

// DeleteBranch deletes a branch; one already gone is no error.
func (c *Client) DeleteBranch(ctx context.Context, branch string) error {
	gh, err := c.installation(ctx)
	if err != nil {
		return err
	}
	_, err = gh.Git.DeleteRef(ctx, c.repo.Owner, c.repo.Name, "heads/"+branch)
	if code, msg := Status(err); code == http.StatusUnprocessableEntity && strings.Contains(msg, "does not exist") || code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete branch %s: %w", branch, err)
	}
	return nil
}
