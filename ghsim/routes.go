package ghsim

import (
	"net/http"
	"strings"
)

// authKind is what a route asks of the caller.
type authKind int

const (
	authNone         authKind = iota // public downloads, control endpoints
	authApp                          // the app's JWT
	authInstallation                 // an installation token
	authAny                          // either
)

func (s *Server) registerRoutes() {
	const (
		api  = "/api/v3"
		repo = api + "/repos/{owner}/{repo}"
	)

	s.handle("GET "+api+"/app", authApp, s.getApp)
	s.handle("GET "+api+"/app/installations", authApp, s.listInstallations)
	s.handle("GET "+api+"/app/installations/{installation_id}", authApp, s.getInstallation)
	s.handle("POST "+api+"/app/installations/{installation_id}/access_tokens", authApp, s.createAccessToken)
	s.handle("GET "+repo+"/installation", authApp, s.getRepoInstallation)
	s.handle("GET "+api+"/app/hook/deliveries", authApp, s.listDeliveries)
	s.handle("GET "+api+"/app/hook/deliveries/{delivery_id}", authApp, s.getDelivery)
	s.handle("POST "+api+"/app/hook/deliveries/{delivery_id}/attempts", authApp, s.redeliver)
	s.handle("GET "+api+"/rate_limit", authAny, s.getRateLimit)
	s.registerManifestRoutes(api)

	s.handle("GET "+repo, authInstallation, s.getRepo)
	s.handle("GET "+repo+"/commits/{ref...}", authInstallation, s.getRepoCommit)
	s.handle("GET "+repo+"/git/ref/{ref...}", authInstallation, s.getRef)
	s.handle("GET "+repo+"/git/matching-refs/{ref...}", authInstallation, s.matchingRefs)
	s.handle("POST "+repo+"/git/refs", authInstallation, s.createRef)
	s.handle("PATCH "+repo+"/git/refs/{ref...}", authInstallation, s.updateRef)
	s.handle("DELETE "+repo+"/git/refs/{ref...}", authInstallation, s.deleteRef)
	s.handle("GET "+repo+"/git/commits/{sha}", authInstallation, s.getCommit)
	s.handle("POST "+repo+"/git/commits", authInstallation, s.createCommit)
	s.handle("GET "+repo+"/git/trees/{sha}", authInstallation, s.getTree)
	s.handle("POST "+repo+"/git/trees", authInstallation, s.createTree)
	s.handle("GET "+repo+"/git/blobs/{sha}", authInstallation, s.getBlob)
	s.handle("POST "+repo+"/git/blobs", authInstallation, s.createBlob)
	s.handle("GET "+repo+"/contents/{path...}", authInstallation, s.getContents)
	s.handle("PUT "+repo+"/contents/{path...}", authInstallation, s.putContents)
	s.handle("DELETE "+repo+"/contents/{path...}", authInstallation, s.deleteContents)

	s.handle("GET "+repo+"/pulls", authInstallation, s.listPulls)
	s.handle("POST "+repo+"/pulls", authInstallation, s.createPull)
	s.handle("GET "+repo+"/pulls/{pull_number}", authInstallation, s.getPull)
	s.handle("PUT "+repo+"/pulls/{pull_number}/merge", authInstallation, s.mergePull)
	s.handle("GET "+repo+"/commits/{ref}/check-runs", authInstallation, s.listCheckRuns)
	s.handle("GET "+repo+"/commits/{ref}/status", authInstallation, s.combinedStatus)
	s.handle("POST "+repo+"/statuses/{sha}", authInstallation, s.createStatus)
	s.handle("GET "+repo+"/branches/{branch}/protection", authInstallation, s.getProtection)
	s.handle("GET "+repo+"/branches/{branch}/protection/required_status_checks", authInstallation, s.getRequiredStatusChecks)
	s.handle("GET "+repo+"/rules/branches/{branch}", authInstallation, s.getBranchRules)

	s.handle("GET "+repo+"/releases", authInstallation, s.listReleases)
	s.handle("POST "+repo+"/releases", authInstallation, s.createRelease)
	s.handle("GET "+repo+"/releases/latest", authInstallation, s.getLatestRelease)
	s.handle("GET "+repo+"/releases/{release_id}", authInstallation, s.getRelease)
	s.handle("PATCH "+repo+"/releases/{release_id}", authInstallation, s.updateRelease)
	s.releaseSubroutes(repo)
	s.handle("DELETE "+repo+"/releases/assets/{asset_id}", authInstallation, s.deleteAsset)
	s.handle("POST /api/uploads/repos/{owner}/{repo}/releases/{release_id}/assets", authInstallation, s.uploadAsset)

	s.handle("GET "+repo+"/actions/workflows", authInstallation, s.listWorkflows)
	s.handle("GET "+repo+"/actions/workflows/{workflow_id}", authInstallation, s.getWorkflow)
	s.handle("POST "+repo+"/actions/workflows/{workflow_id}/dispatches", authInstallation, s.dispatch)
	s.handle("GET "+repo+"/actions/workflows/{workflow_id}/runs", authInstallation, s.listWorkflowRuns)
	s.handle("GET "+repo+"/actions/runs", authInstallation, s.listRuns)
	s.handle("GET "+repo+"/actions/runs/{run_id}", authInstallation, s.getRun)
	s.handle("GET "+repo+"/actions/runs/{run_id}/jobs", authInstallation, s.listJobs)
	s.handle("POST "+repo+"/actions/runs/{run_id}/cancel", authInstallation, s.cancelRun)
	s.handle("GET "+repo+"/actions/jobs/{job_id}", authInstallation, s.getJob)

	s.handle("GET /{owner}/{repo}/releases/download/{tag}/{name}", authNone, s.download)
	s.handle("GET /_sim/release-assets/{asset_id}", authNone, s.storedAsset)
	s.handle("GET /{owner}/{repo}/raw/{rest...}", authNone, s.raw)

	s.handle("GET /_sim/stats", authNone, s.getStats)
	s.handle("GET /_sim/runs", authNone, s.getRuns)
	s.handle("GET /_sim/faults", authNone, s.getFaults)
	s.handle("POST /_sim/faults", authNone, s.postFaults)
	s.handle("DELETE /_sim/faults", authNone, s.deleteFaults)
	s.handle("POST /_sim/pulls/{pull_number}/approve", authNone, s.approvePull)
}

// releaseSubroutes serves GitHub's .../releases/tags/{tag},
// .../releases/assets/{asset_id} and .../releases/{release_id}/assets,
// which ServeMux refuses to register side by side because they overlap
// (a tag or release named "assets"). One pattern takes all three and
// hands each request to its route, resolving overlaps as GitHub does.
func (s *Server) releaseSubroutes(repo string) {
	byTag := s.chain("GET "+repo+"/releases/tags/{tag}", authInstallation, s.getReleaseByTag)
	asset := s.chain("GET "+repo+"/releases/assets/{asset_id}", authInstallation, s.getAsset)
	assets := s.chain("GET "+repo+"/releases/{release_id}/assets", authInstallation, s.listAssets)
	s.mux.HandleFunc("GET "+repo+"/releases/{first}/{second}", func(w http.ResponseWriter, r *http.Request) {
		first, second := r.PathValue("first"), r.PathValue("second")
		switch {
		case first == "tags":
			r.SetPathValue("tag", second)
			byTag(w, r)
		case first == "assets":
			r.SetPathValue("asset_id", second)
			asset(w, r)
		case second == "assets":
			r.SetPathValue("release_id", first)
			assets(w, r)
		default:
			notFound(w, r)
		}
	})
}

// serve answers API paths that match no route (or not with this method)
// with GitHub's JSON 404; ServeMux would answer in plain text.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/api/") {
		notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handle(pattern string, auth authKind, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, s.chain(pattern, auth, h))
}

// chain wraps h for the route named route ("METHOD pattern"), under which
// it is counted and addressed by faults. The order is GitHub's: a fault
// stands for the server failing before anything else; then come
// authentication, the rate limit and the repository check.
func (s *Server) chain(route string, auth authKind, h http.HandlerFunc) http.HandlerFunc {
	control := strings.Contains(route, " /_sim/")
	if !control {
		s.routes[route] = true
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if auth == authNone {
			if s.isRepo(r) {
				h(w, r)
			} else {
				http.NotFound(w, r)
			}
			return
		}
		bucket, ok := s.authenticate(w, r, auth)
		if !ok {
			return
		}
		rw, ok := s.rateLimit(w, r, bucket)
		if !ok {
			return
		}
		if !s.isRepo(r) {
			notFound(rw, r)
			return
		}
		h(rw, r)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if control {
			h(w, r)
			return
		}
		s.countRequest(route)
		f := s.takeFault(route)
		if f == nil {
			f = s.chaosFault(route)
		}
		if f == nil {
			serve(w, r)
			return
		}
		if f.AfterHandling {
			serve(discard{header: http.Header{}}, r)
		}
		s.writeFault(w, r, f)
	}
}

// discard is a response nobody reads: the answer a fault replaces.
type discard struct{ header http.Header }

func (d discard) Header() http.Header       { return d.header }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// isRepo reports whether the request's {owner}/{repo}, if any, is the
// simulated repository. GitHub compares names case-insensitively.
func (s *Server) isRepo(r *http.Request) bool {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	if owner == "" && repo == "" {
		return true
	}
	return strings.EqualFold(owner, s.cfg.Owner) && strings.EqualFold(repo, s.cfg.Repo)
}
