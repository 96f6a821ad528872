package ghsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) {
	wf := s.workflowJSON()
	writeJSON(w, r, http.StatusOK, map[string]any{"total_count": 1, "workflows": []workflowJSON{wf}})
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) {
	if !s.workflow.matches(r.PathValue("workflow_id")) {
		notFound(w, r)
		return
	}
	writeJSON(w, r, http.StatusOK, s.workflowJSON())
}

// invalidRequest is GitHub's 422 for a body its schema refuses.
func invalidRequest(w http.ResponseWriter, r *http.Request, detail string) {
	writeError(w, r, http.StatusUnprocessableEntity, "Invalid request.\n\n"+detail)
}

type runDetailsJSON struct {
	WorkflowRunID int64  `json:"workflow_run_id"`
	RunURL        string `json:"run_url"`
	HTMLURL       string `json:"html_url"`
}

// dispatch is POST .../actions/workflows/{workflow_id}/dispatches with body
// {"ref", "inputs", "return_run_details"}. It answers 204, or 200 with the
// run's ids when return_run_details is true (GitHub since February 2026).
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if !s.workflow.matches(r.PathValue("workflow_id")) {
		notFound(w, r)
		return
	}
	var body map[string]json.RawMessage
	if !decodeBody(w, r, &body) {
		return
	}
	permitted := []string{"ref", "inputs"}
	if !s.cfg.RejectRunDetails {
		permitted = append(permitted, "return_run_details")
	}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if !slices.Contains(permitted, k) {
			invalidRequest(w, r, fmt.Sprintf("%q is not a permitted key.", k))
			return
		}
	}
	rawRef, ok := body["ref"]
	if !ok {
		invalidRequest(w, r, `"ref" wasn't supplied.`)
		return
	}
	var ref string
	if json.Unmarshal(rawRef, &ref) != nil {
		invalidRequest(w, r, fmt.Sprintf("For 'properties/ref', %s is not a string.", rawRef))
		return
	}
	given, ok := s.dispatchInputs(w, r, body["inputs"])
	if !ok {
		return
	}
	var details bool
	if raw, ok := body["return_run_details"]; ok && json.Unmarshal(raw, &details) != nil {
		invalidRequest(w, r, fmt.Sprintf("For 'properties/return_run_details', %s is not a boolean.", raw))
		return
	}
	if !s.workflow.dispatchable {
		writeError(w, r, http.StatusUnprocessableEntity, "Workflow does not have 'workflow_dispatch' trigger")
		return
	}
	head, ok := s.dispatchHead(ref)
	if !ok {
		writeError(w, r, http.StatusUnprocessableEntity, "No ref found for: "+ref)
		return
	}
	inputs, problem := s.workflow.resolveInputs(given)
	if problem != "" {
		writeError(w, r, http.StatusUnprocessableEntity, problem)
		return
	}

	s.act.mu.Lock()
	if s.closed.Load() {
		s.act.mu.Unlock()
		writeError(w, r, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	run := s.startRunLocked(inputs, head)
	s.act.mu.Unlock()
	u := s.urls()
	if !details {
		noContent(w)
		return
	}
	id := strconv.FormatInt(run.id, 10)
	writeJSON(w, r, http.StatusOK, runDetailsJSON{
		WorkflowRunID: run.id,
		RunURL:        u.repoAPI() + "/actions/runs/" + id,
		HTMLURL:       u.repoHTML() + "/actions/runs/" + id,
	})
}

// dispatchHead resolves a dispatch's ref, a branch or tag by short or
// full name, to the commit the run runs on.
func (s *Server) dispatchHead(ref string) (runHead, bool) {
	s.repo.mu.RLock()
	defer s.repo.mu.RUnlock()
	for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
		name := prefix + strings.TrimPrefix(ref, prefix)
		if sha, ok := s.repo.refs[name]; ok {
			c, _ := s.repo.commit(sha)
			return runHead{branch: strings.TrimPrefix(name, prefix), sha: sha, commit: c}, true
		}
	}
	return runHead{}, false
}

// dispatchInputs decodes the inputs object, whose values must be strings.
func (s *Server) dispatchInputs(w http.ResponseWriter, r *http.Request, raw json.RawMessage) (map[string]string, bool) {
	given := map[string]string{}
	if raw == nil || string(raw) == "null" {
		return given, true
	}
	var values map[string]json.RawMessage
	if json.Unmarshal(raw, &values) != nil {
		invalidRequest(w, r, fmt.Sprintf("For 'properties/inputs', %s is not an object.", raw))
		return nil, false
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		var v string
		if json.Unmarshal(values[name], &v) != nil {
			invalidRequest(w, r, fmt.Sprintf("For 'properties/%s', %s is not a string.", name, values[name]))
			return nil, false
		}
		given[name] = v
	}
	return given, true
}

// runFilter holds the query filters of the runs lists.
type runFilter struct {
	event, status, branch, actor, headSHA string
	checkSuiteID                          int64
	created                               timeRange
}

var (
	runStatuses    = []string{"queued", "in_progress", "completed", "requested", "waiting", "pending", "action_required"}
	runConclusions = []string{"success", "failure", "cancelled", "neutral", "skipped", "stale", "timed_out", "startup_failure"}
)

func parseRunFilter(q url.Values) (runFilter, string) {
	f := runFilter{
		event:   q.Get("event"),
		status:  q.Get("status"),
		branch:  q.Get("branch"),
		actor:   q.Get("actor"),
		headSHA: q.Get("head_sha"),
	}
	if f.status != "" && !slices.Contains(runStatuses, f.status) && !slices.Contains(runConclusions, f.status) {
		return f, fmt.Sprintf("Invalid status %q: want one of %s", f.status, strings.Join(append(runStatuses, runConclusions...), ", "))
	}
	if v := q.Get("created"); v != "" {
		var ok bool
		if f.created, ok = parseCreated(v); !ok {
			return f, fmt.Sprintf("Invalid created %q: want a date or time, optionally with >, >=, <, <= or a range A..B", v)
		}
	}
	if v := q.Get("check_suite_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, fmt.Sprintf("Invalid check_suite_id %q", v)
		}
		f.checkSuiteID = id
	}
	return f, ""
}

func (f runFilter) matches(s *Server, r *run) bool {
	switch {
	case f.event != "" && f.event != "workflow_dispatch",
		f.branch != "" && f.branch != r.head.branch,
		f.actor != "" && !strings.EqualFold(f.actor, s.cfg.AppSlug+"[bot]"),
		f.headSHA != "" && f.headSHA != r.head.sha,
		f.checkSuiteID != 0 && f.checkSuiteID != r.checkSuiteID,
		f.status != "" && f.status != r.status && f.status != r.conclusion,
		!f.created.contains(r.createdAt):
		return false
	}
	return true
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	s.writeRuns(w, r)
}

func (s *Server) listWorkflowRuns(w http.ResponseWriter, r *http.Request) {
	if !s.workflow.matches(r.PathValue("workflow_id")) {
		notFound(w, r)
		return
	}
	s.writeRuns(w, r)
}

// writeRuns answers a runs list: filtered, newest first, paginated.
func (s *Server) writeRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, problem := parseRunFilter(q)
	if problem != "" {
		writeError(w, r, http.StatusUnprocessableEntity, problem)
		return
	}
	p := parsePage(q)
	s.act.mu.Lock()
	var matched []*run
	for i := len(s.act.runs) - 1; i >= 0; i-- {
		if f.matches(s, s.act.runs[i]) {
			matched = append(matched, s.act.runs[i])
		}
	}
	runs := []runJSON{}
	for _, run := range paginate(matched, p) {
		runs = append(runs, s.runJSONLocked(run))
	}
	s.act.mu.Unlock()
	setLink(w, r, s.URL(), p, len(matched))
	writeJSON(w, r, http.StatusOK, map[string]any{"total_count": len(matched), "workflow_runs": runs})
}

// withRun answers with fn applied, under mu, to the path's {run_id}.
func (s *Server) withRun(w http.ResponseWriter, r *http.Request, fn func(*run) (int, any)) {
	id := pathID(r, "run_id")
	respond(w, r, &s.act.mu, func() (int, any) {
		run := s.runByIDLocked(id)
		if run == nil {
			return http.StatusNotFound, "Not Found"
		}
		return fn(run)
	})
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	s.withRun(w, r, func(run *run) (int, any) {
		return http.StatusOK, s.runJSONLocked(run)
	})
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	if f := r.URL.Query().Get("filter"); f != "" && f != "latest" && f != "all" {
		writeError(w, r, http.StatusUnprocessableEntity, "Invalid filter: want latest or all")
		return
	}
	s.withRun(w, r, func(run *run) (int, any) {
		return http.StatusOK, map[string]any{"total_count": 1, "jobs": []jobJSON{s.jobJSONLocked(run)}}
	})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "job_id")
	respond(w, r, &s.act.mu, func() (int, any) {
		for _, run := range s.act.runs {
			if run.jobID == id {
				return http.StatusOK, s.jobJSONLocked(run)
			}
		}
		return http.StatusNotFound, "Not Found"
	})
}

// cancelRun is POST .../actions/runs/{run_id}/cancel: 202, and the run
// completes as cancelled.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	s.withRun(w, r, func(run *run) (int, any) {
		if run.status == statusCompleted {
			return http.StatusConflict, "Cannot cancel a workflow run that is completed."
		}
		s.completeLocked(run, conclusionCancelled)
		return http.StatusAccepted, struct{}{}
	})
}

// timeRange is a half-open interval [from, to) of creation times; a zero
// end is unbounded.
type timeRange struct {
	from, to time.Time
}

func (tr timeRange) contains(t time.Time) bool {
	return (tr.from.IsZero() || !t.Before(tr.from)) && (tr.to.IsZero() || t.Before(tr.to))
}

// parseCreated parses GitHub's search syntax for dates: D, >D, >=D, <D,
// <=D, A..B with * for an open end. A date covers its whole day, a time
// its second.
func parseCreated(v string) (timeRange, bool) {
	if from, to, ok := strings.Cut(v, ".."); ok {
		var tr timeRange
		if from != "*" {
			start, _, ok := parseInstant(from)
			if !ok {
				return tr, false
			}
			tr.from = start
		}
		if to != "*" {
			_, end, ok := parseInstant(to)
			if !ok {
				return tr, false
			}
			tr.to = end
		}
		return tr, true
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		rest, ok := strings.CutPrefix(v, op)
		if !ok {
			continue
		}
		start, end, ok := parseInstant(rest)
		if !ok {
			return timeRange{}, false
		}
		switch op {
		case ">=":
			return timeRange{from: start}, true
		case ">":
			return timeRange{from: end}, true
		case "<=":
			return timeRange{to: end}, true
		default:
			return timeRange{to: start}, true
		}
	}
	start, end, ok := parseInstant(v)
	return timeRange{from: start, to: end}, ok
}

// parseInstant returns the span a date or time stands for.
func parseInstant(v string) (start, end time.Time, ok bool) {
	// A + in a query string arrives as a space.
	v = strings.ReplaceAll(strings.TrimSpace(v), " ", "+")
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, t.AddDate(0, 0, 1), true
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC().Truncate(time.Second)
			return t, t.Add(time.Second), true
		}
	}
	return time.Time{}, time.Time{}, false
}
