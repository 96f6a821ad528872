package ghsim_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild"
	"github.com/riptides/driverbuild/ghsim"
)

// gitBlobSHA is what `git hash-object` prints for data.
func gitBlobSHA(data []byte) string {
	sum := sha1.Sum(append(fmt.Appendf(nil, "blob %d\x00", len(data)), data...))
	return hex.EncodeToString(sum[:])
}

// apiError is GitHub's error body as go-github returns it.
func apiError(t *testing.T, err error, status int) *github.ErrorResponse {
	t.Helper()
	var e *github.ErrorResponse
	require.ErrorAs(t, err, &e)
	require.Equal(t, status, e.Response.StatusCode, e.Message)
	return e
}

func TestDefaultBranchHoldsTheRepositoryFiles(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)
	ctx := context.Background()

	repo, _, err := gh.Repositories.Get(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, "main", repo.GetDefaultBranch())

	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	content, err := file.GetContent()
	require.NoError(t, err)
	require.Equal(t, string(driverbuild.KernelsJSON), content)
	require.Equal(t, gitBlobSHA(driverbuild.KernelsJSON), file.GetSHA(), "the blob sha is git's")

	_, dir, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/workflows", nil)
	require.NoError(t, err)
	require.Len(t, dir, 1)
	require.Equal(t, "driver-build.yml", dir[0].GetName())
	require.Equal(t, "file", dir[0].GetType())

	ref, _, err := gh.Git.GetRef(ctx, "riptides", "driver", "heads/main")
	require.NoError(t, err)
	head, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", ref.GetObject().GetSHA())
	require.NoError(t, err)
	tree, _, err := gh.Git.GetTree(ctx, "riptides", "driver", head.GetTree().GetSHA(), true)
	require.NoError(t, err)
	var paths []string
	for _, e := range tree.Entries {
		paths = append(paths, e.GetType()+" "+e.GetPath())
	}
	require.Equal(t, []string{"tree .github", "blob .github/kernels.json", "tree .github/workflows", "blob .github/workflows/driver-build.yml"}, paths)

	raw, body := call(t, http.MethodGet, file.GetDownloadURL(), "", nil)
	require.Equal(t, http.StatusOK, raw.StatusCode)
	require.Equal(t, driverbuild.KernelsJSON, body)
}

func TestKernelsJSONIsConfigurable(t *testing.T) {
	t.Parallel()
	kernels := []byte("{\n  \"x86_64\": []\n}\n")
	sim := startSim(t, ghsim.Config{KernelsJSON: kernels})
	file, _, _, err := installationClient(t, sim).Repositories.GetContents(context.Background(), "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	content, err := file.GetContent()
	require.NoError(t, err)
	require.Equal(t, string(kernels), content)
}

func TestGitObjectsHaveGitsSHAs(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)
	ctx := context.Background()

	blob, _, err := gh.Git.CreateBlob(ctx, "riptides", "driver", &github.Blob{Content: github.String("hello\n"), Encoding: github.String("utf-8")})
	require.NoError(t, err)
	require.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a", blob.GetSHA(), "git hash-object of hello\\n")

	tree, _, err := gh.Git.CreateTree(ctx, "riptides", "driver", "", []*github.TreeEntry{
		{Path: github.String("hello.txt"), Mode: github.String("100644"), Type: github.String("blob"), SHA: blob.SHA},
	})
	require.NoError(t, err)
	// git mktree of one file hello.txt holding hello\n.
	require.Equal(t, "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7", tree.GetSHA())

	got, _, err := gh.Git.GetBlob(ctx, "riptides", "driver", blob.GetSHA())
	require.NoError(t, err)
	require.Equal(t, "base64", got.GetEncoding())
	require.Equal(t, "aGVsbG8K\n", got.GetContent())
}

func TestRefsCommitsAndTrees(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)
	ctx := context.Background()
	main, _, err := gh.Git.GetRef(ctx, "riptides", "driver", "heads/main")
	require.NoError(t, err)
	base := main.GetObject().GetSHA()
	baseCommit, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", base)
	require.NoError(t, err)

	// A commit on a new branch, built from trees as the App builds its changes.
	tree, _, err := gh.Git.CreateTree(ctx, "riptides", "driver", baseCommit.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String(".github/kernels.json"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("{}\n")},
	})
	require.NoError(t, err)
	next, _, err := gh.Git.CreateCommit(ctx, "riptides", "driver", &github.Commit{
		Message: github.String("Add a kernel"), Tree: tree, Parents: []*github.Commit{{SHA: github.String(base)}},
	}, nil)
	require.NoError(t, err)
	require.Equal(t, "Add a kernel", next.GetMessage())
	require.Equal(t, base, next.Parents[0].GetSHA())
	require.Equal(t, "driverbuild-sim[bot]", next.GetAuthor().GetName())

	branch := "refs/heads/add-kernel/ubuntu/x86_64/6-8-0-1053-gcp"
	created, _, err := gh.Git.CreateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String(branch), Object: &github.GitObject{SHA: next.SHA}})
	require.NoError(t, err)
	require.Equal(t, branch, created.GetRef())

	_, _, err = gh.Git.CreateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String(branch), Object: &github.GitObject{SHA: next.SHA}})
	require.Equal(t, "Reference already exists", apiError(t, err, http.StatusUnprocessableEntity).Message)
	_, _, err = gh.Git.CreateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String("refs/heads/x"), Object: &github.GitObject{SHA: github.String("0123456789012345678901234567890123456789")}})
	require.Equal(t, "Object does not exist", apiError(t, err, http.StatusUnprocessableEntity).Message)

	matching, _, err := gh.Git.ListMatchingRefs(ctx, "riptides", "driver", &github.ReferenceListOptions{Ref: "heads/add-kernel/"})
	require.NoError(t, err)
	require.Len(t, matching, 1)
	require.Equal(t, next.GetSHA(), matching[0].GetObject().GetSHA())
	none, _, err := gh.Git.ListMatchingRefs(ctx, "riptides", "driver", &github.ReferenceListOptions{Ref: "heads/nothing"})
	require.NoError(t, err)
	require.Empty(t, none)

	// main -> next is a fast-forward; next -> base is not, unless forced.
	_, _, err = gh.Git.UpdateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String(branch), Object: &github.GitObject{SHA: github.String(base)}}, false)
	require.Equal(t, "Update is not a fast forward", apiError(t, err, http.StatusUnprocessableEntity).Message)
	moved, _, err := gh.Git.UpdateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String(branch), Object: &github.GitObject{SHA: github.String(base)}}, true)
	require.NoError(t, err)
	require.Equal(t, base, moved.GetObject().GetSHA())
	_, _, err = gh.Git.UpdateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: next.SHA}}, false)
	require.NoError(t, err)

	_, err = gh.Git.DeleteRef(ctx, "riptides", "driver", branch)
	require.NoError(t, err)
	_, err = gh.Git.DeleteRef(ctx, "riptides", "driver", branch)
	require.Equal(t, "Reference does not exist", apiError(t, err, http.StatusUnprocessableEntity).Message)
	_, _, err = gh.Git.GetRef(ctx, "riptides", "driver", branch)
	apiError(t, err, http.StatusNotFound)

	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	content, err := file.GetContent()
	require.NoError(t, err)
	require.Equal(t, "{}\n", content, "main moved to the new commit")
}

func TestTreeRemovesAPathWithANullSHA(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)
	ctx := context.Background()
	head, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", mainSHA(t, gh))
	require.NoError(t, err)
	tree, _, err := gh.Git.CreateTree(ctx, "riptides", "driver", head.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String(".github/workflows/driver-build.yml"), Mode: github.String("100644"), Type: github.String("blob")},
	})
	require.NoError(t, err)
	var paths []string
	for _, e := range tree.Entries {
		paths = append(paths, e.GetPath())
	}
	require.Equal(t, []string{".github"}, paths)
	full, _, err := gh.Git.GetTree(ctx, "riptides", "driver", tree.GetSHA(), true)
	require.NoError(t, err)
	paths = nil
	for _, e := range full.Entries {
		paths = append(paths, e.GetPath())
	}
	require.Equal(t, []string{".github", ".github/kernels.json"}, paths, "the emptied directory is gone")
}

func mainSHA(t *testing.T, gh *github.Client) string {
	t.Helper()
	ref, _, err := gh.Git.GetRef(context.Background(), "riptides", "driver", "heads/main")
	require.NoError(t, err)
	return ref.GetObject().GetSHA()
}

func TestContentsPutWithTheBlobSHAPrecondition(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	gh := installationClient(t, sim)
	ctx := context.Background()
	const path = ".github/kernels.json"
	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", path, nil)
	require.NoError(t, err)
	before := mainSHA(t, gh)

	updated, resp, err := gh.Repositories.UpdateFile(ctx, "riptides", "driver", path, &github.RepositoryContentFileOptions{
		Message: github.String("Add a kernel"), Content: []byte("{\"x86_64\": []}\n"), SHA: file.SHA,
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, gitBlobSHA([]byte("{\"x86_64\": []}\n")), updated.Content.GetSHA())
	require.Equal(t, before, updated.Parents[0].GetSHA())
	require.Equal(t, updated.GetSHA(), mainSHA(t, gh), "the branch moved to the commit")

	// The sha read before the update is stale now.
	_, _, err = gh.Repositories.UpdateFile(ctx, "riptides", "driver", path, &github.RepositoryContentFileOptions{
		Message: github.String("Again"), Content: []byte("{}\n"), SHA: file.SHA,
	})
	require.Equal(t, path+" does not match "+file.GetSHA(), apiError(t, err, http.StatusConflict).Message)
	_, _, err = gh.Repositories.UpdateFile(ctx, "riptides", "driver", path, &github.RepositoryContentFileOptions{
		Message: github.String("No sha"), Content: []byte("{}\n"),
	})
	require.Equal(t, "Invalid request.\n\n\"sha\" wasn't supplied.", apiError(t, err, http.StatusUnprocessableEntity).Message)

	// A new file on another branch, then deleted.
	_, _, err = gh.Git.CreateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String("refs/heads/topic"), Object: &github.GitObject{SHA: updated.SHA}})
	require.NoError(t, err)
	created, resp, err := gh.Repositories.CreateFile(ctx, "riptides", "driver", "docs/note.md", &github.RepositoryContentFileOptions{
		Message: github.String("Note"), Content: []byte("hello\n"), Branch: github.String("topic"),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a", created.Content.GetSHA())
	_, _, _, err = gh.Repositories.GetContents(ctx, "riptides", "driver", "docs/note.md", nil)
	apiError(t, err, http.StatusNotFound) // not on main
	_, _, _, err = gh.Repositories.GetContents(ctx, "riptides", "driver", "docs/note.md", &github.RepositoryContentGetOptions{Ref: "topic"})
	require.NoError(t, err)
	_, _, err = gh.Repositories.DeleteFile(ctx, "riptides", "driver", "docs/note.md", &github.RepositoryContentFileOptions{
		Message: github.String("Drop the note"), SHA: created.Content.SHA, Branch: github.String("topic"),
	})
	require.NoError(t, err)
	_, _, _, err = gh.Repositories.GetContents(ctx, "riptides", "driver", "docs/note.md", &github.RepositoryContentGetOptions{Ref: "topic"})
	apiError(t, err, http.StatusNotFound)
}

func TestContentsPutRefusesBadBodies(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	token := "Bearer " + installationToken(t, sim)
	url := apiURL(sim) + "/repos/riptides/driver/contents/a.txt"
	for name, tc := range map[string]struct {
		body    any
		status  int
		message string
	}{
		"no message":     {map[string]any{"content": "aGkK"}, http.StatusUnprocessableEntity, "Invalid request.\n\n\"message\" wasn't supplied."},
		"no content":     {map[string]any{"message": "m"}, http.StatusUnprocessableEntity, "Invalid request.\n\n\"content\" wasn't supplied."},
		"not base64":     {map[string]any{"message": "m", "content": "%%%"}, http.StatusUnprocessableEntity, "content is not valid Base64"},
		"unknown branch": {map[string]any{"message": "m", "content": "aGkK", "branch": "nope"}, http.StatusNotFound, "Branch nope not found"},
		"not JSON":       {"{", http.StatusBadRequest, "Problems parsing JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := call(t, http.MethodPut, url, token, tc.body)
			require.Equal(t, tc.status, resp.StatusCode, string(body))
			var e struct{ Message string }
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, tc.message, e.Message)
		})
	}
}

func TestRunsRecordTheCommitTheyRanOn(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	token := installationToken(t, sim)
	runID := dispatch(t, sim, token, "6.8.0-1053-gcp")
	run, _, err := gh.Actions.GetWorkflowRunByID(context.Background(), "riptides", "driver", runID)
	require.NoError(t, err)
	require.Equal(t, mainSHA(t, gh), run.GetHeadSHA())
	require.Equal(t, "main", run.GetHeadBranch())
	head, _, err := gh.Git.GetCommit(context.Background(), "riptides", "driver", run.GetHeadSHA())
	require.NoError(t, err)
	require.Equal(t, head.GetTree().GetSHA(), run.GetHeadCommit().GetTreeID())

	// A release's tag points at the commit it was published from.
	tag, _, err := gh.Git.GetRef(context.Background(), "riptides", "driver", "tags/v0.1.2")
	require.NoError(t, err)
	require.Equal(t, run.GetHeadSHA(), tag.GetObject().GetSHA())
}

func TestCommitsAPIResolvesRefs(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}})
	gh := installationClient(t, sim)
	ctx := context.Background()
	head := mainSHA(t, gh)
	for _, ref := range []string{"main", "v0.1.2", head} {
		c, _, err := gh.Repositories.GetCommit(ctx, "riptides", "driver", ref, nil)
		require.NoError(t, err, ref)
		require.Equal(t, head, c.GetSHA(), ref)
		require.Equal(t, "Initial commit", c.GetCommit().GetMessage())
	}
	_, _, err := gh.Repositories.GetCommit(ctx, "riptides", "driver", "nope", nil)
	require.Equal(t, "No commit found for SHA: nope", apiError(t, err, http.StatusUnprocessableEntity).Message)
}

func TestCreateTreeRefusesBadEntries(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{})
	token := "Bearer " + installationToken(t, sim)
	url := apiURL(sim) + "/repos/riptides/driver/git/trees"
	entry := func(kv ...any) map[string]any {
		e := map[string]any{"path": "a.txt", "mode": "100644", "type": "blob", "content": "hi"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(e, kv[i].(string))
			} else {
				e[kv[i].(string)] = kv[i+1]
			}
		}
		return map[string]any{"tree": []any{e}}
	}
	for name, tc := range map[string]struct {
		body    any
		message string
	}{
		"bad mode":           {entry("mode", "100600"), "Invalid request.\n\nFor 'items/mode', \"100600\" is not one of 100644, 100755, 040000, 160000, 120000."},
		"type against mode":  {entry("type", "tree"), "tree.type tree does not match tree.mode 100644"},
		"content for a tree": {entry("mode", "040000", "type", "tree"), "tree.content can only be given for a blob"},
		"leading slash":      {entry("path", "/a.txt"), "tree.path cannot start with a slash"},
		"neither":            {entry("content", nil), "Must supply either tree.sha or tree.content"},
		"both":               {entry("sha", "ce013625030ba8dba906f756967f9e9ca394464a"), "tree.sha and tree.content cannot both be set"},
		"unknown sha":        {entry("content", nil, "sha", "0123456789012345678901234567890123456789"), "tree.sha 0123456789012345678901234567890123456789 is not a valid blob"},
		"dot dot":            {entry("path", "a/../b"), "tree.path contains a malformed path component"},
		"bad base":           {map[string]any{"base_tree": "0123456789012345678901234567890123456789", "tree": []any{}}, "base_tree is not a valid tree oid"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := call(t, http.MethodPost, url, token, tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(body))
			var e struct{ Message string }
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, tc.message, e.Message)
		})
	}
}
