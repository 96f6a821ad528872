package ghsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

const testCheckDuration = 50 * time.Millisecond

// branchAdding makes a branch off main whose one commit adds a kernel to
// kernels.json, and returns the commit.
func branchAdding(t *testing.T, gh *github.Client, branch string, e matrix.KernelEntry) string {
	t.Helper()
	ctx := context.Background()
	base := mainSHA(t, gh)
	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/kernels.json", &github.RepositoryContentGetOptions{Ref: base})
	require.NoError(t, err)
	content, err := file.GetContent()
	require.NoError(t, err)
	k, err := matrix.ParseKernels([]byte(content))
	require.NoError(t, err)
	k.Add("x86_64", e)
	data, err := k.Marshal()
	require.NoError(t, err)
	return commitOn(t, gh, branch, base, string(data))
}

// commitOn commits kernels.json holding data on parent and creates branch there.
func commitOn(t *testing.T, gh *github.Client, branch, parent, data string) string {
	t.Helper()
	ctx := context.Background()
	pc, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", parent)
	require.NoError(t, err)
	tree, _, err := gh.Git.CreateTree(ctx, "riptides", "driver", pc.GetTree().GetSHA(), []*github.TreeEntry{{
		Path: github.String(".github/kernels.json"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String(data),
	}})
	require.NoError(t, err)
	c, _, err := gh.Git.CreateCommit(ctx, "riptides", "driver", &github.Commit{
		Message: github.String("add a kernel"), Tree: tree, Parents: []*github.Commit{{SHA: github.String(parent)}},
	}, nil)
	require.NoError(t, err)
	_, _, err = gh.Git.CreateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: c.SHA}})
	require.NoError(t, err)
	return c.GetSHA()
}

func openPull(t *testing.T, gh *github.Client, branch string) *github.PullRequest {
	t.Helper()
	pr, _, err := gh.PullRequests.Create(context.Background(), "riptides", "driver", &github.NewPullRequest{
		Title: github.String("add " + branch), Head: github.String(branch), Base: github.String("main"),
	})
	require.NoError(t, err)
	return pr
}

// computedPull reads a pull request until GitHub has computed its mergeability.
func computedPull(t *testing.T, gh *github.Client, n int) *github.PullRequest {
	t.Helper()
	for range 10 {
		pr, _, err := gh.PullRequests.Get(context.Background(), "riptides", "driver", n)
		require.NoError(t, err)
		if pr.Mergeable != nil {
			return pr
		}
	}
	require.FailNow(t, "mergeability never computed")
	return nil
}

func checkSuiteDone(sha string) func(hook) bool {
	return func(h hook) bool {
		if h.Event != "check_suite" || h.Action != "completed" {
			return false
		}
		var e github.CheckSuiteEvent
		return json.Unmarshal(h.Body, &e) == nil && e.GetCheckSuite().GetHeadSHA() == sha
	}
}

var fedora = matrix.KernelEntry{Target: "fedora", KernelRelease: "6.16.1-100.fc42.x86_64", DistroVersion: "42"}

// While its required check runs, a pull request is blocked, and a merge
// is refused as GitHub refuses it.
func TestPullRequestBlockedWhileItsCheckRuns(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{CheckDuration: time.Hour})
	gh := installationClient(t, sim)
	head := branchAdding(t, gh, "add-kernel/fedora/x86_64/6-16-1", fedora)
	openPull(t, gh, "add-kernel/fedora/x86_64/6-16-1")
	got := computedPull(t, gh, 1)
	require.True(t, got.GetMergeable())
	require.Equal(t, "blocked", got.GetMergeableState())
	_, _, err := gh.PullRequests.Merge(context.Background(), "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head, MergeMethod: "squash"})
	e := apiError(t, err, http.StatusMethodNotAllowed)
	require.Equal(t, `Required status check "validate-kernels" is expected.`, e.Message)
	require.Zero(t, sim.Stats().Merges)
}

// A pull request of a kernels.json change: opened, checked by a real
// validation, merged once the check passed and only with its head's sha.
func TestPullRequestMergesOncePassed(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), CheckDuration: testCheckDuration})
	gh := installationClient(t, sim)
	ctx := context.Background()
	head := branchAdding(t, gh, "add-kernel/fedora/x86_64/6-16-1", fedora)
	rc.waitHook(t, func(h hook) bool {
		var e github.PushEvent
		return h.Event == "push" && json.Unmarshal(h.Body, &e) == nil && e.GetRef() == "refs/heads/add-kernel/fedora/x86_64/6-16-1" &&
			e.GetCreated() && e.GetAfter() == head && len(e.Commits) == 1 && e.Commits[0].Modified[0] == ".github/kernels.json"
	})

	pr := openPull(t, gh, "add-kernel/fedora/x86_64/6-16-1")
	require.Equal(t, 1, pr.GetNumber())
	require.Equal(t, head, pr.GetHead().GetSHA())
	require.Nil(t, pr.Mergeable)
	_, _, err := gh.PullRequests.Create(ctx, "riptides", "driver", &github.NewPullRequest{
		Title: github.String("again"), Head: github.String("riptides:add-kernel/fedora/x86_64/6-16-1"), Base: github.String("main"),
	})
	e := apiError(t, err, http.StatusUnprocessableEntity)
	require.Equal(t, "A pull request already exists for riptides:add-kernel/fedora/x86_64/6-16-1.", e.Errors[0].Message)
	rc.waitHook(t, func(h hook) bool { return h.Event == "pull_request" && h.Action == "opened" })

	listed, _, err := gh.PullRequests.List(ctx, "riptides", "driver", &github.PullRequestListOptions{Head: "riptides:add-kernel/fedora/x86_64/6-16-1", State: "open"})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	listed, _, err = gh.PullRequests.List(ctx, "riptides", "driver", &github.PullRequestListOptions{Head: "riptides:other", State: "all"})
	require.NoError(t, err)
	require.Empty(t, listed)

	first, _, err := gh.PullRequests.Get(ctx, "riptides", "driver", 1)
	require.NoError(t, err)
	require.Nil(t, first.Mergeable, "null until computed")
	require.True(t, computedPull(t, gh, 1).GetMergeable())
	rc.waitHook(t, checkSuiteDone(head))
	runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, "riptides", "driver", head, nil)
	require.NoError(t, err)
	require.Equal(t, 1, runs.GetTotal())
	require.Equal(t, "validate-kernels", runs.CheckRuns[0].GetName())
	require.Equal(t, "success", runs.CheckRuns[0].GetConclusion())
	require.Equal(t, "clean", computedPull(t, gh, 1).GetMergeableState())

	_, _, err = gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: mainSHA(t, gh), MergeMethod: "squash"})
	e = apiError(t, err, http.StatusConflict)
	require.Equal(t, "Head branch was modified. Review and try the merge again.", e.Message)
	res, _, err := gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head, MergeMethod: "squash"})
	require.NoError(t, err)
	require.True(t, res.GetMerged())
	require.Equal(t, int64(1), sim.Stats().Merges)

	merged, _, err := gh.PullRequests.Get(ctx, "riptides", "driver", 1)
	require.NoError(t, err)
	require.True(t, merged.GetMerged())
	require.Equal(t, "closed", merged.GetState())
	squash, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", mainSHA(t, gh))
	require.NoError(t, err)
	require.Len(t, squash.Parents, 1, "a squash")
	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	content, _ := file.GetContent()
	k, err := matrix.ParseKernels([]byte(content))
	require.NoError(t, err)
	require.True(t, k.Lists(kernel.DefaultCatalog(), kernel.Request{KernelVersion: fedora.KernelRelease, Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42"}))
	rc.waitHook(t, func(h hook) bool {
		var e github.PullRequestEvent
		return h.Event == "pull_request" && h.Action == "closed" && json.Unmarshal(h.Body, &e) == nil && e.GetPullRequest().GetMerged()
	})
	_, _, err = gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head})
	require.Equal(t, "Pull Request is not mergeable", apiError(t, err, http.StatusMethodNotAllowed).Message)
}

// Two pull requests changing kernels.json from one base: once one merged,
// the other conflicts; the merge first hears the base moved.
func TestPullRequestsConflictOnTheSameFile(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{CheckDuration: time.Millisecond})
	gh := installationClient(t, sim)
	ctx := context.Background()
	a := branchAdding(t, gh, "add-kernel/a", fedora)
	b := branchAdding(t, gh, "add-kernel/b", matrix.KernelEntry{Target: "centos", KernelRelease: "5.14.0-600.el9.x86_64", DistroVersion: "stream9"})
	openPull(t, gh, "add-kernel/a")
	openPull(t, gh, "add-kernel/b")
	require.Eventually(t, func() bool { return computedPull(t, gh, 1).GetMergeableState() == "clean" }, waitFor, 10*time.Millisecond)
	require.Eventually(t, func() bool { return computedPull(t, gh, 2).GetMergeableState() == "clean" }, waitFor, 10*time.Millisecond)

	_, _, err := gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: a, MergeMethod: "squash"})
	require.NoError(t, err)
	_, _, err = gh.PullRequests.Merge(ctx, "riptides", "driver", 2, "", &github.PullRequestOptions{SHA: b, MergeMethod: "squash"})
	require.Equal(t, "Base branch was modified. Review and try the merge again.", apiError(t, err, http.StatusMethodNotAllowed).Message)
	got := computedPull(t, gh, 2)
	require.False(t, got.GetMergeable())
	require.Equal(t, "dirty", got.GetMergeableState())
	_, _, err = gh.PullRequests.Merge(ctx, "riptides", "driver", 2, "", &github.PullRequestOptions{SHA: b, MergeMethod: "squash"})
	require.Equal(t, "Pull Request is not mergeable", apiError(t, err, http.StatusMethodNotAllowed).Message)

	// Re-applied on the new head and force-pushed, it merges again.
	main := mainSHA(t, gh)
	file, _, _, err := gh.Repositories.GetContents(ctx, "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	content, _ := file.GetContent()
	out, _, err := matrix.MergeKernels(kernel.DefaultCatalog(), []byte(content), []kernel.Request{{KernelVersion: "5.14.0-600.el9.x86_64", Architecture: "x86_64", Distribution: "centos", DistroVersion: "stream9", DriverVersion: "v0.1.2"}})
	require.NoError(t, err)
	pc, _, err := gh.Git.GetCommit(ctx, "riptides", "driver", main)
	require.NoError(t, err)
	tree, _, err := gh.Git.CreateTree(ctx, "riptides", "driver", pc.GetTree().GetSHA(), []*github.TreeEntry{{Path: github.String(".github/kernels.json"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String(string(out))}})
	require.NoError(t, err)
	c, _, err := gh.Git.CreateCommit(ctx, "riptides", "driver", &github.Commit{Message: github.String("re-apply"), Tree: tree, Parents: []*github.Commit{{SHA: github.String(main)}}}, nil)
	require.NoError(t, err)
	_, _, err = gh.Git.UpdateRef(ctx, "riptides", "driver", &github.Reference{Ref: github.String("refs/heads/add-kernel/b"), Object: &github.GitObject{SHA: c.SHA}}, true)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return computedPull(t, gh, 2).GetMergeableState() == "clean" }, waitFor, 10*time.Millisecond)
	_, _, err = gh.PullRequests.Merge(ctx, "riptides", "driver", 2, "", &github.PullRequestOptions{SHA: c.GetSHA(), MergeMethod: "squash"})
	require.NoError(t, err)
	require.Equal(t, int64(2), sim.Stats().Merges)
}

// The check validates the head's file for real; -fail-checks fails it.
func TestValidateKernelsCheck(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fail   *regexp.Regexp
		file   string
		passes bool
	}{
		"valid":           {file: "", passes: true},
		"invalid file":    {file: `{"x86_64": [{"target": "rhel", "kernelrelease": "5.14.0-596.el9.x86_64"}]}` + "\n"},
		"failed by regex": {fail: regexp.MustCompile(`^add-kernel/`)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, ghsim.Config{CheckDuration: time.Millisecond, FailChecks: tc.fail})
			gh := installationClient(t, sim)
			ctx := context.Background()
			var head string
			if tc.file != "" {
				head = commitOn(t, gh, "add-kernel/x", mainSHA(t, gh), tc.file)
			} else {
				head = branchAdding(t, gh, "add-kernel/x", fedora)
			}
			openPull(t, gh, "add-kernel/x")
			var run *github.CheckRun
			require.Eventually(t, func() bool {
				runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, "riptides", "driver", head, nil)
				require.NoError(t, err)
				if runs.GetTotal() == 1 && runs.CheckRuns[0].GetStatus() == "completed" {
					run = runs.CheckRuns[0]
				}
				return run != nil
			}, waitFor, 5*time.Millisecond)
			if tc.passes {
				require.Equal(t, "success", run.GetConclusion())
				return
			}
			require.Equal(t, "failure", run.GetConclusion())
			computedPull(t, gh, 1)
			_, _, err := gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head})
			require.Equal(t, `Required status check "validate-kernels" is failing.`, apiError(t, err, http.StatusMethodNotAllowed).Message)
		})
	}
}

// main requires validate-kernels through classic protection by default,
// or through a ruleset, when the protection endpoint answers 404.
func TestRequiredChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	gh := installationClient(t, startSim(t, ghsim.Config{}))
	rsc, _, err := gh.Repositories.GetRequiredStatusChecks(ctx, "riptides", "driver", "main")
	require.NoError(t, err)
	require.Equal(t, []string{"validate-kernels"}, *rsc.Contexts)
	require.Equal(t, "validate-kernels", (*rsc.Checks)[0].Context)
	prot, _, err := gh.Repositories.GetBranchProtection(ctx, "riptides", "driver", "main")
	require.NoError(t, err)
	require.Equal(t, []string{"validate-kernels"}, *prot.GetRequiredStatusChecks().Contexts)
	rules, _, err := gh.Repositories.GetRulesForBranch(ctx, "riptides", "driver", "main")
	require.NoError(t, err)
	require.Empty(t, rules)
	// go-github turns GitHub's 404 "Branch not protected" into its own error.
	_, _, err = gh.Repositories.GetRequiredStatusChecks(ctx, "riptides", "driver", "other")
	require.ErrorIs(t, err, github.ErrBranchNotProtected)

	gh = installationClient(t, startSim(t, ghsim.Config{RequiredChecksIn: ghsim.RequiredInRulesets}))
	_, _, err = gh.Repositories.GetBranchProtection(ctx, "riptides", "driver", "main")
	require.ErrorIs(t, err, github.ErrBranchNotProtected)
	rules, _, err = gh.Repositories.GetRulesForBranch(ctx, "riptides", "driver", "main")
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.Equal(t, "required_status_checks", rules[0].Type)
	var params github.RequiredStatusChecksRuleParameters
	require.NoError(t, json.Unmarshal(*rules[0].Parameters, &params))
	require.Equal(t, "validate-kernels", params.RequiredStatusChecks[0].Context)
}

// Commit statuses are listed in the combined status and sent as webhooks.
func TestCommitStatuses(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	sim := startSim(t, ghsim.Config{WebhookURL: rc.URL()})
	gh := installationClient(t, sim)
	ctx := context.Background()
	head := branchAdding(t, gh, "add-kernel/s", fedora)
	_, _, err := gh.Repositories.CreateStatus(ctx, "riptides", "driver", head, &github.RepoStatus{State: github.String("pending"), Context: github.String("lint")})
	require.NoError(t, err)
	_, _, err = gh.Repositories.CreateStatus(ctx, "riptides", "driver", head, &github.RepoStatus{State: github.String("success"), Context: github.String("lint")})
	require.NoError(t, err)
	combined, _, err := gh.Repositories.GetCombinedStatus(ctx, "riptides", "driver", head, nil)
	require.NoError(t, err)
	require.Equal(t, "success", combined.GetState())
	require.Equal(t, 1, combined.GetTotalCount())
	h := rc.waitHook(t, func(h hook) bool {
		return h.Event == "status" && json.Valid(h.Body) && string(h.Body) != "" && contains(h.Body, `"state":"success"`)
	})
	var e github.StatusEvent
	require.NoError(t, json.Unmarshal(h.Body, &e))
	require.Equal(t, head, e.GetSHA())
	require.Equal(t, "add-kernel/s", e.Branches[0].GetName())
	_, _, err = gh.Repositories.CreateStatus(ctx, "riptides", "driver", head, &github.RepoStatus{State: github.String("done")})
	apiError(t, err, http.StatusUnprocessableEntity)
}

func contains(b []byte, s string) bool { return regexp.MustCompile(regexp.QuoteMeta(s)).Match(b) }

// Where the default branch requires an approving review, a pull request
// whose checks passed is blocked and its merge refused with GitHub's
// message until a reviewer approves it; protection and rulesets say so.
func TestPullRequestWaitsForItsReview(t *testing.T) {
	t.Parallel()
	for _, in := range []string{ghsim.RequiredInProtection, ghsim.RequiredInRulesets} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			sim := startSim(t, ghsim.Config{WebhookURL: rc.URL(), CheckDuration: testCheckDuration, RequiredChecksIn: in, RequiredReviews: 1})
			gh := installationClient(t, sim)
			ctx := context.Background()
			head := branchAdding(t, gh, "add-kernel/fedora/x86_64/6-16-1", fedora)
			openPull(t, gh, "add-kernel/fedora/x86_64/6-16-1")
			rc.waitHook(t, checkSuiteDone(head))
			require.Equal(t, "blocked", computedPull(t, gh, 1).GetMergeableState(), "the check passed, the review is missing")
			_, _, err := gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head, MergeMethod: "squash"})
			e := apiError(t, err, http.StatusMethodNotAllowed)
			want := "At least 1 approving review is required by reviewers with write access."
			if in == ghsim.RequiredInRulesets {
				want = "Repository rule violations found\n\n" + want + "\n\n" // every violation, as a ruleset's refusal lists them
			}
			require.Equal(t, want, e.Message)

			if in == ghsim.RequiredInProtection {
				p, _, err := gh.Repositories.GetBranchProtection(ctx, "riptides", "driver", "main")
				require.NoError(t, err)
				require.Equal(t, 1, p.GetRequiredPullRequestReviews().RequiredApprovingReviewCount)
			} else {
				rules, _, err := gh.Repositories.GetRulesForBranch(ctx, "riptides", "driver", "main")
				require.NoError(t, err)
				var types []string
				for _, r := range rules {
					types = append(types, r.Type)
				}
				require.Equal(t, []string{"required_status_checks", "pull_request"}, types)
			}

			resp, err := http.Post(sim.URL()+"/_sim/pulls/1/approve", "", nil)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
			require.Equal(t, "clean", computedPull(t, gh, 1).GetMergeableState())
			res, _, err := gh.PullRequests.Merge(ctx, "riptides", "driver", 1, "", &github.PullRequestOptions{SHA: head, MergeMethod: "squash"})
			require.NoError(t, err)
			require.True(t, res.GetMerged())

			resp, err = http.Post(sim.URL()+"/_sim/pulls/9/approve", "", nil)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
		})
	}
}
