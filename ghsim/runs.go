package ghsim

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riptides/driverbuild/kernel"
)

// Run and job statuses and conclusions, as GitHub spells them.
const (
	statusQueued     = "queued"
	statusInProgress = "in_progress"
	statusCompleted  = "completed"

	conclusionSuccess   = "success"
	conclusionFailure   = "failure"
	conclusionCancelled = "cancelled"
	conclusionSkipped   = "skipped"
)

// buildSteps are the steps of a simulated driver build.
var buildSteps = []string{"Set up job", "Install kernel headers", "Build driver", "Package", "Upload", "Complete job"}

// actionState holds the workflow runs, each with its one job.
type actionState struct {
	mu        sync.Mutex
	runs      []*run // by id
	runNumber int64
}

type run struct {
	id, number   int64
	jobID        int64
	checkSuiteID int64
	inputs       map[string]string // resolved, never modified
	title        string
	head         runHead
	status       string
	conclusion   string
	createdAt    time.Time
	updatedAt    time.Time
	job          job
	stop         chan struct{} // closed when the run completes
}

// runHead is the commit a run runs on, resolved from the dispatch's ref.
type runHead struct {
	branch string // as dispatched, without refs/heads/
	sha    string
	commit commit
}

type job struct {
	status, conclusion                string
	createdAt, startedAt, completedAt time.Time
	steps                             []step
}

type step struct {
	name, status, conclusion string
	startedAt, completedAt   time.Time
}

// runByIDLocked finds a run; runs are kept in id order.
func (s *Server) runByIDLocked(id int64) *run {
	i, found := slices.BinarySearchFunc(s.act.runs, id, func(r *run, id int64) int { return cmp.Compare(r.id, id) })
	if !found {
		return nil
	}
	return s.act.runs[i]
}

// startRunLocked creates a queued run for a dispatch, announces it and
// starts its simulation.
func (s *Server) startRunLocked(inputs map[string]string, head runHead) *run {
	now := s.now()
	s.act.runNumber++
	r := &run{
		id:           s.newID(),
		number:       s.act.runNumber,
		jobID:        s.newID(),
		checkSuiteID: s.newID(),
		inputs:       inputs,
		title:        s.workflow.displayTitle(inputs),
		head:         head,
		status:       statusQueued,
		createdAt:    now,
		updatedAt:    now,
		// GitHub reports a queued job's creation time as started_at.
		job:  job{status: statusQueued, createdAt: now, startedAt: now, steps: []step{}},
		stop: make(chan struct{}),
	}
	s.act.runs = append(s.act.runs, r)
	s.stats.add(&s.stats.dispatches)
	s.log.Info().Int64("run_id", r.id).Str("display_title", r.title).Msg("run queued")
	s.workflowRunEventLocked("requested", r)
	s.workflowJobEventLocked(statusQueued, r)
	s.wg.Add(1)
	if s.cfg.RunnerCommand != "" {
		go s.runCommand(r)
	} else {
		go s.simulate(r)
	}
	return r
}

// simulate moves a run through its steps on timers: queued for a tenth of
// BuildDuration, then the steps share the rest. It returns when the run
// completes, is cancelled, or the server closes.
func (s *Server) simulate(r *run) {
	defer s.wg.Done()
	queued := s.cfg.BuildDuration / 10
	perStep := (s.cfg.BuildDuration - queued) / time.Duration(len(buildSteps))
	timer := time.NewTimer(queued)
	defer timer.Stop()
	if !s.wait(timer, r) || !s.begin(r, buildSteps) {
		return
	}
	var pkg *artifact
	for i, name := range buildSteps {
		timer.Reset(perStep)
		if !s.wait(timer, r) {
			return
		}
		err := s.stepWork(r, name, &pkg)
		if !s.finishStep(r, i, err) {
			return
		}
	}
}

func (s *Server) wait(timer *time.Timer, r *run) bool {
	select {
	case <-timer.C:
		return true
	case <-r.stop:
		return false
	case <-s.ctx.Done():
		return false
	}
}

// artifact is the package a run built.
type artifact struct {
	name, label string
	data        []byte
}

// stepWork does what a step does besides taking time; its error fails the step.
func (s *Server) stepWork(r *run, name string, pkg **artifact) error {
	switch name {
	case "Build driver":
		if s.cfg.FailKernels != nil && s.cfg.FailKernels.MatchString(r.inputs["kernel_version"]) {
			return fmt.Errorf("kernel %s: driver does not compile", r.inputs["kernel_version"])
		}
	case "Package":
		name, data, label, err := s.cfg.Artifact(maps.Clone(r.inputs))
		if err != nil {
			return fmt.Errorf("package: %w", err)
		}
		*pkg = &artifact{name: name, label: label, data: data}
	case "Upload":
		return s.uploadArtifact(r, *pkg)
	}
	return nil
}

// uploadArtifact publishes the package and its .sha256.
func (s *Server) uploadArtifact(r *run, pkg *artifact) error {
	if pkg == nil {
		return errors.New("upload: nothing was packaged")
	}
	sumName := pkg.name + ".sha256"
	if !validAssetName(sumName) || !validLabel(pkg.label) {
		return fmt.Errorf("upload: invalid asset name %q or label %q", pkg.name, pkg.label)
	}
	sum := hashHex(pkg.data)
	return s.publish(r, []runFile{
		{pkg.name, pkg.label, packageContentType(pkg.name), pkg.data},
		{sumName, "", "text/plain", []byte(sum + "  " + pkg.name + "\n")},
	})
}

// runFile is a file a run uploads as a release asset.
type runFile struct {
	name, label, contentType string
	data                     []byte
}

// publish uploads a run's files in one step, through the code the uploads
// API uses, as images/scripts/upload-package.sh does: each file to the
// release its package lives in (kernel.ReleaseTag: the driver version's
// own release, or one of its shards, created the first time a package
// needs it), replacing assets of the same name. Nobody sees a package
// without its .sha256: both go up under one lock.
func (s *Server) publish(r *run, files []runFile) error {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	if r.status == statusCompleted {
		return nil // cancelled meanwhile; finishStep sees it
	}
	s.rel.mu.Lock()
	defer s.rel.mu.Unlock()
	driverVersion := r.inputs["driver_version"]
	for _, f := range files {
		tag := kernel.ReleaseTag(driverVersion, strings.TrimSuffix(f.name, ".sha256"))
		rel := s.releaseByTagLocked(tag, true)
		if rel == nil && tag != driverVersion {
			rel = s.createShardLocked(driverVersion, tag)
		}
		if rel == nil {
			return fmt.Errorf("upload: release %s not found", tag)
		}
		if old := rel.assetByName(f.name); old != nil {
			rel.removeAsset(old.id)
		}
		if _, err := s.addAssetLocked(rel, f.name, f.label, f.contentType, f.data); err != nil {
			return fmt.Errorf("upload %s: %w", f.name, err)
		}
	}
	return nil
}

// begin moves a queued run to in_progress with the first of its steps running.
func (s *Server) begin(r *run, steps []string) bool {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	if r.status == statusCompleted || s.closed.Load() {
		return false
	}
	now := s.now()
	r.status, r.updatedAt = statusInProgress, now
	r.job.status, r.job.startedAt = statusInProgress, now
	for _, name := range steps {
		r.job.steps = append(r.job.steps, step{name: name, status: statusQueued})
	}
	r.job.steps[0].status, r.job.steps[0].startedAt = statusInProgress, now
	s.log.Debug().Int64("run_id", r.id).Msg("run in progress")
	s.workflowRunEventLocked(statusInProgress, r)
	s.workflowJobEventLocked(statusInProgress, r)
	return true
}

// finishStep completes step i and starts the next, or completes the run
// after the last step or a failure. It reports whether the run goes on.
func (s *Server) finishStep(r *run, i int, stepErr error) bool {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	if r.status == statusCompleted || s.closed.Load() {
		return false
	}
	now := s.now()
	st := &r.job.steps[i]
	st.status, st.completedAt, st.conclusion = statusCompleted, now, conclusionSuccess
	if stepErr != nil {
		st.conclusion = conclusionFailure
		s.log.Info().Int64("run_id", r.id).Str("step", st.name).Err(stepErr).Msg("run step failed")
		s.completeLocked(r, conclusionFailure)
		return false
	}
	if i+1 == len(r.job.steps) {
		s.completeLocked(r, conclusionSuccess)
		return false
	}
	next := &r.job.steps[i+1]
	next.status, next.startedAt = statusInProgress, now
	r.updatedAt = now
	return true
}

// completeLocked ends the run and its job with conclusion. Steps not yet
// done are skipped (a running one is cancelled with the run), except that
// "Complete job" still runs after a failure, as on GitHub.
func (s *Server) completeLocked(r *run, conclusion string) {
	now := s.now()
	for i := range r.job.steps {
		st := &r.job.steps[i]
		if st.status == statusCompleted {
			continue
		}
		switch {
		case st.status == statusInProgress && conclusion == conclusionCancelled:
			st.conclusion = conclusionCancelled
		case i == len(r.job.steps)-1 && conclusion == conclusionFailure:
			st.conclusion = conclusionSuccess
		default:
			st.conclusion = conclusionSkipped
		}
		st.status, st.completedAt = statusCompleted, now
		if st.startedAt.IsZero() {
			st.startedAt = now
		}
	}
	r.job.status, r.job.conclusion, r.job.completedAt = statusCompleted, conclusion, now
	r.status, r.conclusion, r.updatedAt = statusCompleted, conclusion, now
	close(r.stop)
	s.log.Info().Int64("run_id", r.id).Str("conclusion", conclusion).Msg("run completed")
	s.workflowJobEventLocked(statusCompleted, r)
	s.workflowRunEventLocked(statusCompleted, r)
}

func (s *Server) workflowJSON() workflowJSON {
	u := s.urls()
	return workflowJSON{
		ID:        workflowID,
		NodeID:    nodeID("Workflow", workflowID),
		Name:      s.workflow.name,
		Path:      s.workflow.path,
		State:     "active",
		CreatedAt: timestamp(s.started),
		UpdatedAt: timestamp(s.started),
		URL:       u.repoAPI() + "/actions/workflows/" + strconv.Itoa(workflowID),
		HTMLURL:   u.repoHTML() + "/blob/" + defaultBranch + "/" + s.workflow.path,
		BadgeURL:  u.repoHTML() + "/workflows/" + s.workflow.name + "/badge.svg",
	}
}

func (s *Server) runJSONLocked(r *run) runJSON {
	u := s.urls()
	api := u.repoAPI() + "/actions/runs/" + strconv.FormatInt(r.id, 10)
	bot := s.bot()
	sha := r.head.sha
	return runJSON{
		ID:                  r.id,
		Name:                s.workflow.name,
		NodeID:              nodeID("WorkflowRun", r.id),
		HeadBranch:          r.head.branch,
		HeadSHA:             sha,
		Path:                s.workflow.path,
		DisplayTitle:        r.title,
		RunNumber:           r.number,
		Event:               "workflow_dispatch",
		Status:              r.status,
		Conclusion:          optString(r.conclusion),
		WorkflowID:          workflowID,
		CheckSuiteID:        r.checkSuiteID,
		CheckSuiteNodeID:    nodeID("CheckSuite", r.checkSuiteID),
		URL:                 api,
		HTMLURL:             u.repoHTML() + "/actions/runs/" + strconv.FormatInt(r.id, 10),
		PullRequests:        []any{},
		CreatedAt:           timestamp(r.createdAt),
		UpdatedAt:           timestamp(r.updatedAt),
		Actor:               bot,
		TriggeringActor:     bot,
		RunAttempt:          1,
		ReferencedWorkflows: []any{},
		RunStartedAt:        timestamp(r.createdAt),
		JobsURL:             api + "/jobs",
		LogsURL:             api + "/logs",
		CheckSuiteURL:       u.repoAPI() + "/check-suites/" + strconv.FormatInt(r.checkSuiteID, 10),
		ArtifactsURL:        api + "/artifacts",
		CancelURL:           api + "/cancel",
		RerunURL:            api + "/rerun",
		WorkflowURL:         u.repoAPI() + "/actions/workflows/" + strconv.Itoa(workflowID),
		HeadCommit: commitJSON{
			ID:        sha,
			TreeID:    r.head.commit.tree,
			Message:   r.head.commit.message,
			Timestamp: timestamp(r.head.commit.committer.date),
			Author:    gitUserJSON{Name: r.head.commit.author.name, Email: r.head.commit.author.email},
			Committer: gitUserJSON{Name: r.head.commit.committer.name, Email: r.head.commit.committer.email},
		},
		Repository:     u.minimalRepo(),
		HeadRepository: u.minimalRepo(),
	}
}

func (s *Server) jobJSONLocked(r *run) jobJSON {
	u := s.urls()
	runID := strconv.FormatInt(r.id, 10)
	jobID := strconv.FormatInt(r.jobID, 10)
	out := jobJSON{
		ID:              r.jobID,
		RunID:           r.id,
		WorkflowName:    s.workflow.name,
		HeadBranch:      r.head.branch,
		RunURL:          u.repoAPI() + "/actions/runs/" + runID,
		RunAttempt:      1,
		NodeID:          nodeID("CheckRun", r.jobID),
		HeadSHA:         r.head.sha,
		URL:             u.repoAPI() + "/actions/jobs/" + jobID,
		HTMLURL:         u.repoHTML() + "/actions/runs/" + runID + "/job/" + jobID,
		Status:          r.job.status,
		Conclusion:      optString(r.job.conclusion),
		CreatedAt:       timestamp(r.job.createdAt),
		StartedAt:       timestamp(r.job.startedAt),
		CompletedAt:     timestamp(r.job.completedAt),
		Name:            s.workflow.jobName,
		Steps:           []stepJSON{},
		CheckRunURL:     u.repoAPI() + "/check-runs/" + jobID,
		Labels:          s.workflow.labels,
		RunnerID:        r.id%20 + 1,
		RunnerName:      fmt.Sprintf("GitHub Actions %d", r.id%20+1),
		RunnerGroupID:   2,
		RunnerGroupName: "GitHub Actions",
	}
	for i, st := range r.job.steps {
		out.Steps = append(out.Steps, stepJSON{
			Name:        st.name,
			Status:      st.status,
			Conclusion:  optString(st.conclusion),
			Number:      i + 1,
			StartedAt:   timestamp(st.startedAt),
			CompletedAt: timestamp(st.completedAt),
		})
	}
	return out
}
