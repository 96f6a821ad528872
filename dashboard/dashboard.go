// Package dashboard is the operators' page, GET /: the builds in flight
// with their job, step and an estimate of what remains, the recent builds,
// why builds fail, and the kernels the fleet runs; and GET /api/dashboard,
// the JSON the page polls to stay live. Everything it serves is embedded,
// so it works offline behind a firewall.
package dashboard

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// Store is what the dashboard reads.
type Store interface {
	BuildsActive(ctx context.Context, limit int) ([]store.Build, error)
	BuildsFinished(ctx context.Context, limit int) ([]store.Build, error)
	BuildsList(ctx context.Context, f store.BuildFilter) ([]store.Build, string, error)
	BuildFailures(ctx context.Context, since time.Time) ([]store.FailureCount, error)
	RequestKernels(ctx context.Context, since time.Time) ([]store.KernelCount, error)
	ListingsOpen(ctx context.Context, limit int) ([]store.Listing, error)
	ReleaseAssetCounts(ctx context.Context) (map[string]int, error)
	BuildByID(ctx context.Context, id string) (store.Build, error)
}

// Window is how far back the failures and the fleet's kernels look.
const Window = 7 * 24 * time.Hour

const (
	inFlightLimit = 100
	recentLimit   = 25
	// historyLimit is how many past builds of a distribution an estimate
	// is taken from: enough for a stable median, few enough to follow a
	// change in how long builds take.
	historyLimit = 20
	// kernelsShown bounds the kernels charted per distribution; the rest
	// are counted.
	kernelsShown = 12
	// listingsLimit bounds the kernels of open pull requests read.
	listingsLimit = 50
)

// View is GET /api/dashboard.
type View struct {
	Now        time.Time      `json:"now"`
	WindowDays int            `json:"window_days"`
	InFlight   []InFlight     `json:"in_flight"`
	Recent     []Finished     `json:"recent"`
	Failures   []Failure      `json:"failures"`
	Fleet      []Distribution `json:"fleet"`
	// PullRequests are the open kernels.json pull requests; nil, and the
	// page shows no such section, where the service proposes none.
	PullRequests []PullRequest `json:"pull_requests,omitempty"`
	// Releases say how full each release and shard is: GitHub refuses an
	// asset past kernel.ReleaseAssetLimit.
	Releases []Release `json:"releases"`
}

// Release is how many assets one release holds, of how many it may.
type Release struct {
	Tag    string `json:"tag"`
	Assets int    `json:"assets"`
	Limit  int    `json:"limit"`
}

// PullRequest is an open pull request that adds kernels to kernels.json.
type PullRequest struct {
	Number int    `json:"number"` // 0 while its branch is being pushed
	URL    string `json:"url"`
	Branch string `json:"branch"`
	// State is pending (the branch is being made or its PR opened), pr_open
	// (waiting for its checks) or checks_failed (a required check failed).
	State    string    `json:"state"`
	Kernels  []Build   `json:"kernels"`
	Proposed time.Time `json:"proposed"`
}

// Build is what every list shows of a build.
type Build struct {
	ID            string    `json:"build_id"`
	Package       string    `json:"package"`
	KernelVersion string    `json:"kernel_version"`
	Architecture  string    `json:"architecture"`
	Distribution  string    `json:"distribution"`
	DistroVersion string    `json:"distro_version"`
	DriverVersion string    `json:"driver_version"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason"`
	RunURL        string    `json:"run_url"`
	CreatedAt     time.Time `json:"created_at"`
	// EventsURL is the build's timeline, GET /api/builds/{id}/events.
	EventsURL string `json:"events_url"`
}

// InFlight is a queued or running build.
type InFlight struct {
	Build
	// Job and Step are what the workflow runs now, from its workflow_job
	// webhooks; Step alone when the progress names no job.
	Job  string `json:"job"`
	Step string `json:"step"`
	// StepAt is when the build last changed: GitHub reports a job's steps
	// when the job starts and ends, not each step, so a step may be old.
	StepAt         time.Time `json:"step_at"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// Estimate is nil while no build of the distribution has been done.
	Estimate *Estimate `json:"estimate"`
}

// Estimate is what remains of a build, judged by the past builds of its
// distribution, request to done.
type Estimate struct {
	TypicalSeconds   float64 `json:"typical_seconds"`
	RemainingSeconds float64 `json:"remaining_seconds"`
	// From is how many past builds the typical duration is the median of.
	From int `json:"from"`
}

// Finished is a build that ended, done or error.
type Finished struct {
	Build
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	Progress        string    `json:"progress"`
}

// Failure is how many builds of a distribution failed for one reason.
type Failure struct {
	Reason       string `json:"reason"`
	Distribution string `json:"distribution"`
	Builds       int    `json:"builds"`
}

// Distribution is the kernels the fleet asked for on one distribution.
type Distribution struct {
	Name     string   `json:"name"`
	Requests int      `json:"requests"`
	Kernels  []Kernel `json:"kernels"`
	// More counts the kernels beyond those listed.
	More int `json:"more"`
}

// Kernel is one kernel nodes asked for.
type Kernel struct {
	KernelVersion string    `json:"kernel_version"`
	DistroVersion string    `json:"distro_version"`
	Architecture  string    `json:"architecture"`
	Requests      int       `json:"requests"`
	LastSeen      time.Time `json:"last_seen"`
}

// Read makes the view at now; with pulls, the open kernels.json pull
// requests too.
func Read(ctx context.Context, st Store, now time.Time, pulls bool) (View, error) {
	v := View{Now: now.UTC(), WindowDays: int(Window / (24 * time.Hour)),
		InFlight: []InFlight{}, Recent: []Finished{}, Failures: []Failure{}, Fleet: []Distribution{}, Releases: []Release{}}
	active, err := st.BuildsActive(ctx, inFlightLimit)
	if err != nil {
		return View{}, fmt.Errorf("dashboard: %w", err)
	}
	typical := map[string]*Estimate{}
	for _, b := range active {
		if _, ok := typical[b.Distribution]; !ok {
			past, _, err := st.BuildsList(ctx, store.BuildFilter{Status: lifecycle.StatusDone,
				Distribution: b.Distribution, Page: store.Page{Limit: historyLimit}})
			if err != nil {
				return View{}, fmt.Errorf("dashboard: %w", err)
			}
			typical[b.Distribution] = estimateOf(past)
		}
		f := InFlight{Build: buildOf(b), StepAt: b.UpdatedAt, ElapsedSeconds: seconds(now.Sub(b.CreatedAt))}
		f.Job, f.Step = splitProgress(b.Progress)
		if e := typical[b.Distribution]; e != nil {
			f.Estimate = &Estimate{TypicalSeconds: e.TypicalSeconds, From: e.From,
				RemainingSeconds: max(0, e.TypicalSeconds-f.ElapsedSeconds)}
		}
		v.InFlight = append(v.InFlight, f)
	}

	finished, err := st.BuildsFinished(ctx, recentLimit)
	if err != nil {
		return View{}, fmt.Errorf("dashboard: %w", err)
	}
	// The newest builds, in the order they ended: a build that timed out
	// ends long after those asked for after it.
	slices.SortStableFunc(finished, func(a, b store.Build) int { return b.FinishedAt.Compare(a.FinishedAt) })
	for _, b := range finished {
		v.Recent = append(v.Recent, Finished{Build: buildOf(b), FinishedAt: b.FinishedAt,
			DurationSeconds: seconds(b.FinishedAt.Sub(b.CreatedAt)), Progress: b.Progress})
	}

	since := now.Add(-Window)
	failures, err := st.BuildFailures(ctx, since)
	if err != nil {
		return View{}, fmt.Errorf("dashboard: %w", err)
	}
	for _, f := range failures {
		v.Failures = append(v.Failures, Failure{Reason: string(f.Reason), Distribution: f.Distribution, Builds: f.Builds})
	}

	kernels, err := st.RequestKernels(ctx, since)
	if err != nil {
		return View{}, fmt.Errorf("dashboard: %w", err)
	}
	v.Fleet = fleetOf(kernels)
	counts, err := st.ReleaseAssetCounts(ctx)
	if err != nil {
		return View{}, fmt.Errorf("dashboard: %w", err)
	}
	for _, tag := range slices.Sorted(maps.Keys(counts)) {
		v.Releases = append(v.Releases, Release{Tag: tag, Assets: counts[tag], Limit: kernel.ReleaseAssetLimit})
	}
	if pulls {
		if v.PullRequests, err = pullRequests(ctx, st); err != nil {
			return View{}, fmt.Errorf("dashboard: %w", err)
		}
	}
	return v, nil
}

// pullRequests groups the open listings by branch: one pull request each.
func pullRequests(ctx context.Context, st Store) ([]PullRequest, error) {
	ls, err := st.ListingsOpen(ctx, listingsLimit)
	if err != nil {
		return nil, err
	}
	out := []PullRequest{}
	at := map[string]int{}
	for _, l := range ls {
		b, err := st.BuildByID(ctx, l.BuildID)
		if err != nil {
			return nil, err
		}
		i, ok := at[l.Branch]
		// Builds no batch took yet have no branch: each its own.
		if !ok || l.Branch == "" {
			i = len(out)
			at[l.Branch] = i
			out = append(out, PullRequest{Number: l.PRNumber, URL: l.PRURL, Branch: l.Branch, State: string(l.State),
				Kernels: []Build{}, Proposed: l.CreatedAt})
		}
		out[i].Kernels = append(out[i].Kernels, buildOf(b))
	}
	return out, nil
}

func buildOf(b store.Build) Build {
	return Build{
		ID: b.ID, Package: b.Package, KernelVersion: b.KernelVersion, Architecture: b.Architecture,
		Distribution: b.Distribution, DistroVersion: b.DistroVersion, DriverVersion: b.DriverVersion,
		Status: string(b.Status), Reason: string(b.Reason), RunURL: b.RunURL, CreatedAt: b.CreatedAt,
		EventsURL: "/api/builds/" + b.ID + "/events",
	}
}

// splitProgress reads "job: step", as the workflow_job handler writes it.
func splitProgress(p string) (job, step string) {
	if job, step, ok := strings.Cut(p, ": "); ok {
		return job, step
	}
	return "", p
}

// estimateOf is the median duration of the done builds, nil for none.
func estimateOf(done []store.Build) *Estimate {
	var ds []float64
	for _, b := range done {
		if !b.FinishedAt.IsZero() {
			ds = append(ds, seconds(b.FinishedAt.Sub(b.CreatedAt)))
		}
	}
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	m := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		m = (ds[len(ds)/2-1] + m) / 2
	}
	return &Estimate{TypicalSeconds: m, From: len(ds)}
}

// fleetOf groups the kernels by distribution, the most asked for first.
func fleetOf(kernels []store.KernelCount) []Distribution {
	kernels = sameKernels(kernels)
	byName := map[string]*Distribution{}
	var order []*Distribution
	for _, k := range kernels {
		d := byName[k.Distribution]
		if d == nil {
			d = &Distribution{Name: k.Distribution, Kernels: []Kernel{}}
			byName[k.Distribution] = d
			order = append(order, d)
		}
		d.Requests += k.Requests
		if len(d.Kernels) == kernelsShown {
			d.More++
			continue
		}
		d.Kernels = append(d.Kernels, Kernel{KernelVersion: k.KernelVersion, DistroVersion: k.DistroVersion,
			Architecture: k.Architecture, Requests: k.Requests, LastSeen: k.LastSeen})
	}
	slices.SortStableFunc(order, func(a, b *Distribution) int { return b.Requests - a.Requests })
	out := make([]Distribution, len(order))
	for i, d := range order {
		out[i] = *d
	}
	return out
}

// sameKernels counts a kernel once whichever spelling of its architecture
// the nodes asking for it sent (amd64 or x86_64: the audit log keeps what
// was sent), most asked for first.
func sameKernels(kernels []store.KernelCount) []store.KernelCount {
	out := make([]store.KernelCount, 0, len(kernels))
	at := map[store.KernelCount]int{}
	for _, k := range kernels {
		if arch, err := kernel.NormalizeArch(k.Architecture); err == nil {
			k.Architecture = arch
		}
		key := store.KernelCount{Distribution: k.Distribution, DistroVersion: k.DistroVersion, KernelVersion: k.KernelVersion, Architecture: k.Architecture}
		i, ok := at[key]
		if !ok {
			at[key] = len(out)
			out = append(out, k)
			continue
		}
		out[i].Requests += k.Requests
		if k.LastSeen.After(out[i].LastSeen) {
			out[i].LastSeen = k.LastSeen
		}
	}
	slices.SortStableFunc(out, func(a, b store.KernelCount) int { return b.Requests - a.Requests })
	return out
}

func seconds(d time.Duration) float64 { return max(0, d.Seconds()) }
