// Package ghclient is the build-service's narrow view of GitHub: dispatch
// the build workflow, read its runs, and list release assets with
// conditional requests. It speaks through go-github to GitHub, GitHub
// Enterprise or ghsim alike.
package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v66/github"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/palantir/go-githubapp/githubapp"
)

// Repo names the repository and workflow the service builds with.
type Repo struct {
	Owner, Name string
	Workflow    string // file name, e.g. driver-build.yml
	Ref         string
	// InstallationID of the App on the repository; 0 looks it up once.
	InstallationID int64
	// WebURL is GitHub's web root, where release downloads are served:
	// https://github.com/. "" leaves Published to find nothing.
	WebURL string
}

// Client makes installation-authenticated calls for one repository.
type Client struct {
	creator githubapp.ClientCreator
	repo    Repo

	mu     sync.Mutex
	client *github.Client

	// What a sha names never changes: the commits and the files at a
	// commit read lately are not read again.
	commits *lru.Cache[string, commitOf]
	files   fileCache
}

// cachedCommits bounds the commits kept: those re-applied onto one head,
// each a few shas.
const cachedCommits = 4096

// New returns a Client; it makes no call until used.
func New(creator githubapp.ClientCreator, repo Repo) *Client {
	commits, _ := lru.New[string, commitOf](cachedCommits)
	return &Client{creator: creator, repo: repo, commits: commits}
}

// installation returns the installation client, finding the installation
// id on first use. Tokens are refreshed by ghinstallation underneath.
func (c *Client) installation(ctx context.Context) (*github.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	id := c.repo.InstallationID
	if id == 0 {
		app, err := c.creator.NewAppClient()
		if err != nil {
			return nil, fmt.Errorf("app client: %w", err)
		}
		inst, _, err := app.Apps.FindRepositoryInstallation(ctx, c.repo.Owner, c.repo.Name)
		if err != nil {
			return nil, fmt.Errorf("find installation on %s/%s: %w", c.repo.Owner, c.repo.Name, err)
		}
		id = inst.GetID()
	}
	client, err := c.creator.NewInstallationClient(id)
	if err != nil {
		return nil, fmt.Errorf("installation client: %w", err)
	}
	c.client = client
	return client, nil
}

// RunRef identifies a workflow run. A zero ID means the server did not say.
type RunRef struct {
	ID  int64
	URL string // html_url
}

// ErrRunDetailsRejected means the server refused return_run_details.
var errRunDetailsRejected = errors.New("return_run_details rejected")

// Dispatch starts the workflow with the inputs and asks for the new run's
// id in the same call (return_run_details, February 2026). go-github v66
// predates the field, so the request is built here. A server that rejects
// the field gets a plain dispatch, and RunRef is then zero: the caller
// finds the run by its run-name.
func (c *Client) Dispatch(ctx context.Context, inputs map[string]string) (RunRef, error) {
	ref, err := c.dispatch(ctx, inputs, true)
	if errors.Is(err, errRunDetailsRejected) {
		ref, err = c.dispatch(ctx, inputs, false)
	}
	return ref, err
}

func (c *Client) dispatch(ctx context.Context, inputs map[string]string, details bool) (RunRef, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return RunRef{}, err
	}
	body := struct {
		Ref              string            `json:"ref"`
		Inputs           map[string]string `json:"inputs"`
		ReturnRunDetails bool              `json:"return_run_details,omitempty"`
	}{c.repo.Ref, inputs, details}
	u := fmt.Sprintf("repos/%s/%s/actions/workflows/%s/dispatches", c.repo.Owner, c.repo.Name, c.repo.Workflow)
	req, err := gh.NewRequest(http.MethodPost, u, body)
	if err != nil {
		return RunRef{}, fmt.Errorf("dispatch request: %w", err)
	}
	var out struct {
		WorkflowRunID int64  `json:"workflow_run_id"`
		HTMLURL       string `json:"html_url"`
	}
	resp, err := gh.Do(ctx, req, &out)
	if err != nil {
		var er *github.ErrorResponse
		if details && errors.As(err, &er) && resp != nil && resp.StatusCode == http.StatusUnprocessableEntity &&
			strings.Contains(er.Message, "return_run_details") {
			return RunRef{}, errRunDetailsRejected
		}
		return RunRef{}, fmt.Errorf("dispatch %s: %w", c.repo.Workflow, err)
	}
	return RunRef{ID: out.WorkflowRunID, URL: out.HTMLURL}, nil
}

// Run is what the service needs of a workflow run.
type Run struct {
	ID           int64
	URL          string // html_url
	Status       string // queued, in_progress, completed, ...
	Conclusion   string // success, failure, cancelled, timed_out, ...
	DisplayTitle string // the rendered run-name
	Path         string // .github/workflows/driver-build.yml
	Event        string
}

func runOf(r *github.WorkflowRun) Run {
	return Run{
		ID: r.GetID(), URL: r.GetHTMLURL(), Status: r.GetStatus(), Conclusion: r.GetConclusion(),
		DisplayTitle: r.GetDisplayTitle(), Path: r.GetPath(), Event: r.GetEvent(),
	}
}

// Run reads one workflow run.
func (c *Client) Run(ctx context.Context, id int64) (Run, error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return Run{}, err
	}
	r, _, err := gh.Actions.GetWorkflowRunByID(ctx, c.repo.Owner, c.repo.Name, id)
	if err != nil {
		return Run{}, fmt.Errorf("get run %d: %w", id, err)
	}
	return runOf(r), nil
}

// FindRun finds the workflow_dispatch run of the workflow, created at or
// after since, whose run-name satisfies match. ok is false when none does
// yet (GitHub may not list a run for a few seconds after dispatch).
func (c *Client) FindRun(ctx context.Context, since time.Time, match func(displayTitle string) bool) (run Run, ok bool, err error) {
	gh, err := c.installation(ctx)
	if err != nil {
		return Run{}, false, err
	}
	opts := &github.ListWorkflowRunsOptions{
		Event:       "workflow_dispatch",
		Created:     ">=" + since.UTC().Format(time.RFC3339),
		ListOptions: github.ListOptions{PerPage: 100},
	}
	for {
		runs, resp, err := gh.Actions.ListWorkflowRunsByFileName(ctx, c.repo.Owner, c.repo.Name, c.repo.Workflow, opts)
		if err != nil {
			return Run{}, false, fmt.Errorf("list runs: %w", err)
		}
		for _, r := range runs.WorkflowRuns {
			if match(r.GetDisplayTitle()) {
				return runOf(r), true, nil
			}
		}
		if resp.NextPage == 0 {
			return Run{}, false, nil
		}
		opts.Page = resp.NextPage
	}
}

// JobProgress renders a job as "job: step" with the step in progress, or
// the job's status when no step runs.
func JobProgress(j *github.WorkflowJob) string {
	for _, s := range j.Steps {
		if s.GetStatus() == "in_progress" {
			return j.GetName() + ": " + s.GetName()
		}
	}
	if j.GetName() == "" {
		return ""
	}
	return j.GetName() + ": " + strings.ReplaceAll(j.GetStatus(), "_", " ")
}

// CancelRun asks GitHub to cancel a run.
func (c *Client) CancelRun(ctx context.Context, id int64) error {
	gh, err := c.installation(ctx)
	if err != nil {
		return err
	}
	resp, err := gh.Actions.CancelWorkflowRunByID(ctx, c.repo.Owner, c.repo.Name, id)
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) || (err == nil && resp != nil) {
		return nil
	}
	return fmt.Errorf("cancel run %d: %w", id, err)
}
