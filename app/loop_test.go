package app_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild"
	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/listing"
	"github.com/riptides/driverbuild/matrix"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// The loop's end-to-end tests run one at a time, not beside the other
// tests of the package: each runs a service, a simulator and a dozen
// jobs, and two cores shared with the boot storm's two thousand clients
// leave that storm too little.

// simGitHub reads the simulated repository through its API, as a person
// with curl would.
func simGitHub(t *testing.T, env *e2e.Env) *github.Client {
	t.Helper()
	tr, err := ghinstallation.New(http.DefaultTransport, env.Sim.AppID(), env.Sim.InstallationID(), env.Sim.PrivateKeyPEM())
	require.NoError(t, err)
	tr.BaseURL = env.Sim.URL() + "/api/v3"
	c, err := github.NewClient(&http.Client{Transport: tr}).WithEnterpriseURLs(env.Sim.URL(), env.Sim.URL())
	require.NoError(t, err)
	return c
}

// mainKernels is kernels.json on the simulated default branch.
func mainKernels(t *testing.T, gh *github.Client) []byte {
	t.Helper()
	f, _, _, err := gh.Repositories.GetContents(context.Background(), "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(t, err)
	s, err := f.GetContent()
	require.NoError(t, err)
	return []byte(s)
}

// openLeft lists the add-kernel branches and open pull requests left.
func openLeft(t *testing.T, gh *github.Client) (branches, pulls int) {
	t.Helper()
	ctx := context.Background()
	refs, _, err := gh.Git.ListMatchingRefs(ctx, "riptides", "driver", &github.ReferenceListOptions{Ref: "heads/add-kernel/"})
	require.NoError(t, err)
	prs, _, err := gh.PullRequests.List(ctx, "riptides", "driver", &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}})
	require.NoError(t, err)
	return len(refs), len(prs)
}

// requireNoneLeft waits until no add-kernel branch or open pull request
// is left: a merged listing is written before its branch is deleted.
func requireNoneLeft(t *testing.T, gh *github.Client) {
	t.Helper()
	require.Eventually(t, func() bool {
		branches, pulls := openLeft(t, gh)
		return branches == 0 && pulls == 0
	}, 10*time.Second, 50*time.Millisecond, "add-kernel branches or open pull requests are left")
}

func waitListing(t *testing.T, env *e2e.Env, id string, state store.ListingState) status {
	t.Helper()
	return waitListingFor(t, env, id, state, time.Minute)
}

func waitListingFor(t *testing.T, env *e2e.Env, id string, state store.ListingState, bound time.Duration) status {
	t.Helper()
	var last status
	require.Eventually(t, func() bool {
		s, err := fetchStatus(env, id)
		if err != nil || s.KernelsJSON == nil {
			return false
		}
		last = s
		return s.KernelsJSON.State == string(state)
	}, bound, 25*time.Millisecond, "kernels_json of %s: %+v", id, last.KernelsJSON)
	return last
}

func bodyOf(r kernel.Request) string {
	return fmt.Sprintf(`{"kernel_version":%q,"architecture":%q,"distribution":%q,"distro_version":%q,"driver_version":%q}`,
		r.KernelVersion, r.Architecture, r.Distribution, r.DistroVersion, r.DriverVersion)
}

func listed(t *testing.T, gh *github.Client, r kernel.Request) bool {
	t.Helper()
	k, err := matrix.ParseKernels(mainKernels(t, gh))
	require.NoError(t, err)
	return k.Lists(kernel.DefaultCatalog(), r)
}

// A kernel built on demand lands in kernels.json on main through a pull
// request the service opens and merges once validate-kernels passed; a
// second driver version of it and a kernel listed already open nothing.
func TestKernelLandsInKernelsJSON(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		t.Parallel()
		env := e2e.Start(t, e2e.Options{Store: open})
		gh := simGitHub(t, env)
		fedora := kernel.Request{KernelVersion: "6.16.2-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: "v0.1.2"}
		require.False(t, listed(t, gh, fedora))

		code, accepted := post(t, env, bodyOf(fedora))
		require.Equal(t, http.StatusAccepted, code)
		waitFor(t, env, accepted.BuildID, terminal)
		s := waitListing(t, env, accepted.BuildID, store.ListingMerged)
		require.Regexp(t, `/riptides/driver/pull/\d+$`, s.KernelsJSON.PRURL)
		require.True(t, listed(t, gh, fedora))
		require.NoError(t, matrix.ValidateKernels(kernel.DefaultCatalog(), mainKernels(t, gh)), "the file passes matrix-gen validate")
		requireNoneLeft(t, gh) // the branch is deleted
		require.EqualValues(t, 1, env.Sim.Stats().Merges)

		pr, _, err := gh.PullRequests.Get(context.Background(), "riptides", "driver", 1)
		require.NoError(t, err)
		require.Equal(t, "add-kernel/fedora/x86_64/6-16-2-200-fc42-x86_64", pr.GetHead().GetRef())
		require.Contains(t, pr.GetTitle(), "fedora 42 6.16.2-200.fc42.x86_64 (x86_64)")
		require.Contains(t, pr.GetBody(), accepted.BuildID)
		require.Contains(t, pr.GetBody(), s.RunURL)

		// The other driver version of the kernel, and a kernel the
		// repository lists already.
		older := fedora
		older.DriverVersion = "v0.1.0"
		seeded := kernel.Request{KernelVersion: "6.14.0-37-generic", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.1.2"}
		for _, r := range []kernel.Request{older, seeded} {
			code, accepted := post(t, env, bodyOf(r))
			require.Equal(t, http.StatusAccepted, code)
			waitFor(t, env, accepted.BuildID, terminal)
			waitListing(t, env, accepted.BuildID, store.ListingAlreadyListed)
		}
		prs, _, err := gh.PullRequests.List(context.Background(), "riptides", "driver", &github.PullRequestListOptions{State: "all"})
		require.NoError(t, err)
		require.Len(t, prs, 1, "nothing more was proposed")
		require.EqualValues(t, 1, env.Sim.Stats().Merges)
	})
}

// A failing check leaves the pull request open and the build says so.
func TestFailingCheckLeavesThePROpen(t *testing.T) {
	env := e2e.Start(t, e2e.Options{Simulate: func(c *ghsim.Config) { c.FailChecks = regexp.MustCompile(`^add-kernel/centos/`) }})
	gh := simGitHub(t, env)
	r := kernel.Request{KernelVersion: "5.14.0-611.el9.x86_64", Architecture: "x86_64", Distribution: "centos", DistroVersion: "stream9", DriverVersion: "v0.1.2"}
	_, accepted := post(t, env, bodyOf(r))
	waitFor(t, env, accepted.BuildID, terminal)
	s := waitListing(t, env, accepted.BuildID, store.ListingChecksFailed)
	require.NotEmpty(t, s.KernelsJSON.PRURL)
	branches, pulls := openLeft(t, gh)
	require.Equal(t, 1, branches)
	require.Equal(t, 1, pulls)
	require.Zero(t, env.Sim.Stats().Merges)
	require.False(t, listed(t, gh, r))
	// Not retried in a loop: no new head, no new check.
	checks := env.Sim.Stats().ByRoute["POST /api/v3/repos/{owner}/{repo}/git/commits"]
	time.Sleep(time.Second)
	require.Equal(t, checks, env.Sim.Stats().ByRoute["POST /api/v3/repos/{owner}/{repo}/git/commits"])
	require.Equal(t, string(store.ListingChecksFailed), getStatus(t, env, accepted.BuildID).KernelsJSON.State)

	// The kernel's build for another driver version is in that pull
	// request, and says so.
	other := r
	other.DriverVersion = "v0.1.0"
	_, second := post(t, env, bodyOf(other))
	waitFor(t, env, second.BuildID, terminal)
	got := waitListing(t, env, second.BuildID, store.ListingChecksFailed)
	require.Equal(t, s.KernelsJSON.PRURL, got.KernelsJSON.PRURL)
	_, pulls = openLeft(t, gh)
	require.Equal(t, 1, pulls)
}

// Lost push and check_suite webhooks, and check_run ones, are made good
// by reconcile, redelivery out of play.
func TestReconcileRecoversLostWebhooks(t *testing.T) {
	env := e2e.Start(t, e2e.Options{Configure: func(c *app.Config) {
		c.Builds.RedeliverInterval = time.Hour
		c.KernelsJSON.ReconcileInterval = 500 * time.Millisecond
	}})
	env.Sim.DropWebhooks("push", 1)
	env.Sim.DropWebhooks("check_suite", 1)
	env.Sim.DropWebhooks("check_run", 2)
	gh := simGitHub(t, env)
	r := kernel.Request{KernelVersion: "6.1.140-160.245.amzn2023.aarch64", Architecture: "aarch64", Distribution: "amazonlinux", DistroVersion: "2023", DriverVersion: "v0.1.2"}
	_, accepted := post(t, env, bodyOf(r))
	waitFor(t, env, accepted.BuildID, terminal)
	waitListing(t, env, accepted.BuildID, store.ListingMerged)
	require.True(t, listed(t, gh, r))
	var dropped []string
	for _, d := range env.Sim.Deliveries() {
		if d.Event != "workflow_run" && d.Event != "workflow_job" && d.StatusCode == 0 {
			dropped = append(dropped, d.Event)
		}
	}
	require.Subset(t, dropped, []string{"push", "check_suite", "check_run"}, "the loop's first webhooks were lost")
}

// A restart in the middle, with the pull request open and its checks
// completing while the service is down, loses nothing.
func TestRestartInTheMiddle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		t.Parallel()
		env := e2e.Start(t, e2e.Options{Store: open,
			Simulate: func(c *ghsim.Config) { c.CheckDuration = 2 * time.Second },
			Configure: func(c *app.Config) {
				c.Builds.RedeliverInterval = time.Hour
				c.KernelsJSON.ReconcileInterval = 500 * time.Millisecond
			}})
		r := kernel.Request{KernelVersion: "6.12.40+deb13-arm64", Architecture: "aarch64", Distribution: "debian", DistroVersion: "13", DriverVersion: "v0.1.2"}
		_, accepted := post(t, env, bodyOf(r))
		waitFor(t, env, accepted.BuildID, terminal)
		waitListing(t, env, accepted.BuildID, store.ListingPROpen)
		env.Kill(t)
		time.Sleep(2500 * time.Millisecond) // the checks complete; their webhooks fail
		env.Restart(t)
		waitListing(t, env, accepted.BuildID, store.ListingMerged)
		gh := simGitHub(t, env)
		require.True(t, listed(t, gh, r))
		requireNoneLeft(t, gh)
		require.EqualValues(t, 1, env.Sim.Stats().Merges)
	})
}

// fiftyKernels are n distinct kernels of both architectures and every
// distribution and version of the default catalog.
func fiftyKernels(n int) []kernel.Request {
	release := func(d, v, arch string, i int) string {
		a := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[arch]
		switch d {
		case "ubuntu":
			return fmt.Sprintf("6.8.0-%d-generic", 2000+i)
		case "debian":
			if v == "13" {
				return fmt.Sprintf("6.12.%d+deb13-%s", 100+i, a)
			}
			return fmt.Sprintf("6.1.0-%d-%s", 100+i, a)
		case "fedora":
			return fmt.Sprintf("6.17.%d-200.fc%s.%s", i, v, arch)
		case "centos":
			if v == "stream9" {
				return fmt.Sprintf("5.14.0-%d.el9.%s", 700+i, arch)
			}
			return fmt.Sprintf("6.12.0-%d.el10.%s", 100+i, arch)
		default:
			return fmt.Sprintf("6.1.%d-170.%d.amzn2023.%s", 200+i, i, arch)
		}
	}
	// Distributions take turns, so that a few kernels cover them all.
	var combos []kernel.Request
	dists := kernel.DefaultCatalog().Distributions()
	for vi, more := 0, true; more; vi++ {
		more = false
		for _, d := range dists {
			if vi < len(d.Versions) {
				more = true
				for _, arch := range []string{"x86_64", "aarch64"} {
					combos = append(combos, kernel.Request{Architecture: arch, Distribution: d.Name, DistroVersion: d.Versions[vi], DriverVersion: "v0.1.2"})
				}
			}
		}
	}
	var out []kernel.Request
	for i := 0; len(out) < n; i++ {
		r := combos[i%len(combos)]
		r.KernelVersion = release(r.Distribution, r.DistroVersion, r.Architecture, i/len(combos))
		out = append(out, r)
	}
	return out
}

// Fifty kernels finishing together each land in kernels.json exactly
// once, one merge per pull request, or one for the batch. Not parallel:
// it keeps two cores busy for a minute, which would starve the other
// scale tests (the boot storm) of theirs.
func TestFiftyKernelsLand(t *testing.T) {
	for name, batch := range map[string]time.Duration{"one pull request each": 0, "batched": 3 * time.Second} {
		t.Run(name, func(t *testing.T) {
			env := e2e.Start(t, e2e.Options{BuildDuration: 2 * time.Second,
				Simulate: func(c *ghsim.Config) { c.RateLimit = 1 << 20 },
				Configure: func(c *app.Config) {
					c.KernelsJSON.BatchWindow = batch
					c.KernelsJSON.ReconcileInterval = 5 * time.Second
				}})
			gh := simGitHub(t, env)
			n := 50
			if raceDetector {
				n = 12 // still every distribution, both architectures
			}
			kernels := fiftyKernels(n)
			ids := make([]string, len(kernels))
			var wg sync.WaitGroup
			for i, r := range kernels {
				wg.Go(func() {
					_, accepted := post(t, env, bodyOf(r))
					ids[i] = accepted.BuildID
				})
			}
			wg.Wait()
			var lastDone time.Time
			for _, id := range ids {
				waitFor(t, env, id, terminal)
				require.Equal(t, "done", getStatus(t, env, id).Status)
			}
			lastDone = time.Now()
			prs := map[string]bool{}
			for _, id := range ids {
				// Fifty merges in a row take a while on a loaded machine.
				prs[waitListingFor(t, env, id, store.ListingMerged, 10*time.Minute).KernelsJSON.PRURL] = true
			}
			took := time.Since(lastDone)

			data := mainKernels(t, gh)
			require.NoError(t, matrix.ValidateKernels(kernel.DefaultCatalog(), data))
			k, err := matrix.ParseKernels(data)
			require.NoError(t, err)
			for _, r := range kernels {
				require.True(t, k.Lists(kernel.DefaultCatalog(), r), r.CacheKey())
			}
			seed, err := matrix.ParseKernels(driverbuild.KernelsJSON)
			require.NoError(t, err)
			require.Len(t, k.Entries(), len(seed.Entries())+len(kernels), "each kernel once")
			requireNoneLeft(t, gh)
			require.EqualValues(t, len(prs), env.Sim.Stats().Merges, "one merge per pull request")
			if batch == 0 {
				// Ubuntu releases built for several versions share a branch;
				// one that joins after its pull request merged gets another.
				branchesOf := map[string]bool{}
				for _, r := range kernels {
					branchesOf[listing.BranchFor(r)] = true
				}
				require.GreaterOrEqual(t, len(prs), len(branchesOf))
				require.Less(t, len(prs), len(kernels)+len(branchesOf))
			} else {
				// How many windows the builds' ends span depends on the
				// machine; fewer pull requests than kernels it is.
				require.Less(t, len(prs), len(kernels), "batched")
			}
			t.Logf("%d kernels, batch_window %s: all merged %s after the last build ended, %d pull requests, %d API requests",
				len(kernels), batch, took.Round(10*time.Millisecond), len(prs), env.Sim.Stats().TotalRequests)
		})
	}
}

// A merge whose answer is lost (a 502 after GitHub merged) is read again
// before any retry: one merge, and the build says merged.
func TestMergeAnswerLost(t *testing.T) {
	env := e2e.Start(t, e2e.Options{Faults: []ghsim.Fault{
		{Route: "PUT /api/v3/repos/{owner}/{repo}/pulls/{pull_number}/merge", Status: http.StatusBadGateway, AfterHandling: true},
	}})
	r := kernel.Request{KernelVersion: "6.12.0-140.el10.x86_64", Architecture: "x86_64", Distribution: "centos", DistroVersion: "stream10", DriverVersion: "v0.1.2"}
	_, accepted := post(t, env, bodyOf(r))
	waitFor(t, env, accepted.BuildID, terminal)
	waitListing(t, env, accepted.BuildID, store.ListingMerged)
	st := env.Sim.Stats()
	require.EqualValues(t, 1, st.FaultsInjected)
	require.EqualValues(t, 1, st.Merges)
	require.EqualValues(t, 1, st.ByRoute["PUT /api/v3/repos/{owner}/{repo}/pulls/{pull_number}/merge"], "not merged twice")
	require.True(t, listed(t, simGitHub(t, env), r))
}

// Rulesets alone (the protection endpoint answers 404) are read for the
// required check.
func TestRulesetsOnly(t *testing.T) {
	env := e2e.Start(t, e2e.Options{
		Simulate:  func(c *ghsim.Config) { c.RequiredChecksIn = ghsim.RequiredInRulesets },
		Configure: func(c *app.Config) { c.KernelsJSON.RequiredChecks = nil },
	})
	r := kernel.Request{KernelVersion: "6.17.3-200.fc43.aarch64", Architecture: "aarch64", Distribution: "fedora", DistroVersion: "43", DriverVersion: "v0.1.2"}
	_, accepted := post(t, env, bodyOf(r))
	waitFor(t, env, accepted.BuildID, terminal)
	waitListing(t, env, accepted.BuildID, store.ListingMerged)
	require.NotZero(t, env.Sim.Stats().ByRoute["GET /api/v3/repos/{owner}/{repo}/rules/branches/{branch}"])
}

var (
	loopRoute    = regexp.MustCompile(`/(git|contents|pulls|commits)/|/pulls$`)
	loopDeferred = regexp.MustCompile(`driverbuild_github_deferred_total\{work="kernels_json"\} [1-9]`)
)

// The kernels.json loop is optional next to the builds: with the API
// budget down to the reserve that dispatches and the poller need, a new
// kernel's build still ends done, and its pull request waits for the
// budget's reset rather than spend that reserve.
func TestKernelsJSONWaitsForTheBudget(t *testing.T) {
	const limit = 60
	env := e2e.Start(t, e2e.Options{RateLimit: limit, Configure: func(c *app.Config) {
		c.Builds.IndexRefresh = 100 * time.Millisecond
	}})
	const releases = "GET /api/v3/repos/{owner}/{repo}/releases"
	refreshes := func() int64 { return env.Sim.Stats().ByRoute[releases] }
	require.Eventually(t, func() bool {
		before := refreshes()
		time.Sleep(500 * time.Millisecond)
		return before > limit/2 && refreshes() == before
	}, 20*time.Second, 10*time.Millisecond, "the refresh spends the budget down to the reserve")
	loopCalls := func() (n int64) {
		for route, calls := range env.Sim.Stats().ByRoute {
			if loopRoute.MatchString(route) {
				n += calls
			}
		}
		return n
	}
	require.Zero(t, loopCalls())

	fedora := kernel.Request{KernelVersion: "6.16.2-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: "v0.1.2"}
	code, accepted := post(t, env, bodyOf(fedora))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	require.Equal(t, "done", getStatus(t, env, accepted.BuildID).Status)
	waitListing(t, env, accepted.BuildID, store.ListingPending)
	require.Eventually(t, func() bool {
		return loopDeferred.MatchString(scrape(t, env))
	}, 20*time.Second, 50*time.Millisecond, "the proposal is deferred")
	require.Zero(t, loopCalls(), "the loop asked GitHub nothing; requests by route: %v", env.Sim.Stats().ByRoute)
	require.Equal(t, string(store.ListingPending), getStatus(t, env, accepted.BuildID).KernelsJSON.State)
	require.Regexp(t, `driverbuild_github_rate_remaining\{bucket="installation"\} [1-9]`, scrape(t, env), "the reserve is left")
}

// A merge GitHub refuses for a reason no check will change (here a
// required review) is tried again less and less often, not at every
// reconcile; once a reviewer approves, a later try merges.
func TestRefusedMergeBacksOff(t *testing.T) {
	env := e2e.Start(t, e2e.Options{
		Simulate:  func(c *ghsim.Config) { c.RequiredReviews = 1 },
		Configure: func(c *app.Config) { c.KernelsJSON.ReconcileInterval = 100 * time.Millisecond },
	})
	fedora := kernel.Request{KernelVersion: "6.16.2-200.fc42.x86_64", Architecture: "x86_64", Distribution: "fedora", DistroVersion: "42", DriverVersion: "v0.1.2"}
	code, accepted := post(t, env, bodyOf(fedora))
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, env, accepted.BuildID, terminal)
	waitListing(t, env, accepted.BuildID, store.ListingPROpen)
	const mergeRoute = "PUT /api/v3/repos/{owner}/{repo}/pulls/{pull_number}/merge"
	merges := func() int64 { return env.Sim.Stats().ByRoute[mergeRoute] }
	require.Eventually(t, func() bool { return merges() > 0 }, 20*time.Second, 10*time.Millisecond, "the merge is tried once the check passed")
	time.Sleep(3 * time.Second) // thirty reconciles
	tried := merges()
	t.Logf("%d merges tried in 3 s of reconciles every 100 ms", tried)
	require.LessOrEqual(t, tried, int64(8), "a refused merge is not tried at every reconcile")

	resp, err := http.Post(env.Sim.URL()+"/_sim/pulls/1/approve", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	waitListing(t, env, accepted.BuildID, store.ListingMerged)
	requireNoneLeft(t, simGitHub(t, env))
}
