package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/store"
)

// newClient is the one HTTP client every scenario drives both sides with:
// up to conns keep-alive connections to a host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: 2 * time.Minute,
		},
	}
}

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// quantile of the durations, in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return quantileMS(l.d, q)
}

func quantileMS(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	i = min(max(i-1, 0), len(s)-1)
	return ms(s[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// loadResult is what a closed loop of requests did.
type loadResult struct {
	requests, failures int
	elapsed            time.Duration
	lat                *latencies
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// closedLoop runs conns workers, each sending call's request as soon as
// the last one was answered, for d. A request answered with another
// status than want, or not at all, is a failure.
func closedLoop(ctx context.Context, client *http.Client, conns int, d time.Duration, call func(worker, i int) *http.Request, want func(code int) bool) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res := loadResult{lat: &latencies{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Go(func() {
			var n, failed int
			own := make([]time.Duration, 0, 1024)
			for i := 0; ctx.Err() == nil; i++ {
				req := call(w, i).WithContext(ctx)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				own = append(own, time.Since(t0))
				n++
				if !want(resp.StatusCode) {
					failed++
				}
			}
			res.lat.add(own...)
			mu.Lock()
			res.requests += n
			res.failures += failed
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func postBuild(url, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url+"/build", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// buildBody is a POST /build body for an ubuntu 24.04 kernel of v0.1.2.
func buildBody(kernelRelease string) string {
	return fmt.Sprintf(`{"kernel_version":%q,"architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`, kernelRelease)
}

// answer is what POST /build and GET /status may say.
type answer struct {
	code int
	buildapi.Build
	Error string `json:"error"`
}

func do(ctx context.Context, client *http.Client, req *http.Request) (answer, error) {
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return a, fmt.Errorf("%s %s: %d, body: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return a, nil
}

// requestBuild posts a new kernel and returns its build id.
func requestBuild(ctx context.Context, client *http.Client, serviceURL, kernelRelease string) (string, error) {
	a, err := do(ctx, client, postBuild(serviceURL, buildBody(kernelRelease)))
	if err != nil {
		return "", err
	}
	if a.code != http.StatusAccepted || a.BuildID == "" {
		return "", fmt.Errorf("POST /build %s: %d %s%s, want 202 with a build id", kernelRelease, a.code, a.Status, a.Error)
	}
	return a.BuildID, nil
}

// awaitListed polls a done build's status every interval until its
// kernel's way into kernels.json has ended (merged, listed already, or
// its checks failed), or the loop is off.
func awaitListed(ctx context.Context, client *http.Client, serviceURL, id string, every time.Duration) error {
	return awaitStatus(ctx, client, serviceURL, id, every, func(a answer) (bool, string, error) {
		k := a.KernelsJSON
		if k == nil || store.ListingState(k.State).Settled() {
			return true, "", nil
		}
		return false, "kernel still " + k.State, nil
	})
}

// awaitDone polls a build's status every interval until it is done; an
// error or the context's end is an error.
func awaitDone(ctx context.Context, client *http.Client, serviceURL, id string, every time.Duration) (time.Time, error) {
	err := awaitStatus(ctx, client, serviceURL, id, every, func(a answer) (bool, string, error) {
		switch a.Status {
		case buildapi.StatusDone:
			return true, "", nil
		case buildapi.StatusError:
			return false, "", fmt.Errorf("build %s failed: %s", id, a.Reason)
		}
		return false, "still " + a.Status, nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// awaitStatus polls a build's status every interval until until says
// done, an error, or the context's end, which says what until said last.
func awaitStatus(ctx context.Context, client *http.Client, serviceURL, id string, every time.Duration, until func(answer) (done bool, last string, err error)) error {
	for {
		req, _ := http.NewRequest(http.MethodGet, serviceURL+"/status/"+id, nil)
		a, err := do(ctx, client, req)
		if err != nil {
			return err
		}
		done, last, err := until(a)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("build %s %s: %w", id, last, ctx.Err())
		case <-time.After(every):
		}
	}
}

// simStats reads ghsim's counters.
func simStats(ctx context.Context, ghsimURL string) (ghsim.Stats, error) {
	var st ghsim.Stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ghsimURL+"/_sim/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// apiCalls counts the GitHub REST API requests among ghsim's routes: not
// downloads, raw files or the simulator's own endpoints.
func apiCalls(st ghsim.Stats) int64 { return callsWhere(st, func(string) bool { return true }) }

// buildCalls counts the API calls of the build path alone: apiCalls but
// the kernels.json loop's.
func buildCalls(st ghsim.Stats) int64 {
	return callsWhere(st, func(route string) bool { return !isListingCall(route) })
}

// callsWhere counts the API calls to the routes that match.
func callsWhere(st ghsim.Stats, match func(route string) bool) int64 {
	var n int64
	for route, c := range st.ByRoute {
		if isAPICall(route) && match(route) {
			n += c
		}
	}
	return n
}

func isAPICall(route string) bool {
	return !strings.Contains(route, "/releases/download/") && !strings.Contains(route, "/raw/") && !strings.Contains(route, "/_sim/")
}

// listingRoutes are the API the kernels.json loop calls, and the build
// path does not: git data, contents, pull requests, checks, protection.
var listingRoutes = []string{"/git/", "/contents/", "/pulls", "/check-runs", "/check-suites", "/status", "/commits/", "/branches/", "/rules/"}

// isListingCall says whether an API route is the kernels.json loop's: a
// new kernel's pull request, its checks and its merge, not its build.
func isListingCall(route string) bool {
	for _, r := range listingRoutes {
		if strings.Contains(route, r) {
			return true
		}
	}
	return false
}

// processMetrics reads the gauges the service's /metrics exports about its
// process: resident memory, heap in use, goroutines.
type processMetrics struct {
	RSSMB, HeapMB float64
	Goroutines    float64
}

func scrape(ctx context.Context, serviceURL string) (processMetrics, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, serviceURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return processMetrics{}, err
	}
	defer resp.Body.Close()
	var m processMetrics
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			m.RSSMB = v / (1 << 20)
		case "go_memstats_heap_inuse_bytes":
			m.HeapMB = v / (1 << 20)
		case "go_goroutines":
			m.Goroutines = v
		}
	}
	return m, sc.Err()
}
