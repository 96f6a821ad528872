// Package bench measures the build-service against the targets of the hot
// path: it starts ghsim, the real build-service and a bare net/http
// handler as processes of their own (or targets running ones), drives them
// with one HTTP client, and reports the figures as one JSON object.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Options size a run; a zero field takes the scenario's default.
type Options struct {
	Scenario    string
	DB          string // sqlite or postgres
	PostgresURL string
	Runs        int // each a fresh environment; figures are their median, min and max
	Duration    time.Duration
	Connections int
	Clients     int
	Builds      int
	// BuildDuration of a simulated run; PollInterval is the service's.
	BuildDuration, PollInterval time.Duration
	// Finished and Active size the soak's database.
	Finished, Active int
	// ServiceURL and GhsimURL target running ones; Relay is then where
	// the tool listens for the webhooks ghsim must be pointed at.
	ServiceURL, GhsimURL, Relay string
	// Bin are binaries built already; zero builds them for the run.
	Bin Binaries
}

// Figures are one run's measurements, by name.
type Figures map[string]float64

// Target is one of the targets over a figure's median.
type Target struct {
	Figure string  `json:"figure"`
	Op     string  `json:"op"` // "<=", ">=" or "=="
	Value  float64 `json:"value"`
	Met    bool    `json:"met"`
}

func (t Target) check(v float64) bool {
	switch t.Op {
	case "<=":
		return v <= t.Value
	case ">=":
		return v >= t.Value
	default:
		return v == t.Value
	}
}

// Spread is a figure over the runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Report is the tool's last line.
type Report struct {
	Scenario string            `json:"scenario"`
	DB       string            `json:"db"`
	Runs     int               `json:"runs"`
	Options  map[string]any    `json:"options"`
	Figures  map[string]Spread `json:"figures"`
	Targets  []Target          `json:"targets"`
	Met      bool              `json:"met"`
	Each     []Figures         `json:"each"`
}

// scenario measures once; it starts the environments it needs through r.
type scenario struct {
	run     func(ctx context.Context, r *runner) (Figures, error)
	targets func(o Options) []Target
	// defaults fill the options the user left zero.
	defaults Options
}

// Scenarios are the issue's, by name.
var Scenarios = map[string]scenario{
	"cached":         cachedScenario,
	"bootstorm":      bootstormScenario,
	"status-latency": statusLatencyScenario,
	"api-calls":      apiCallsScenario,
	"soak":           soakScenario,
}

// Names lists the scenarios, sorted.
func Names() []string {
	names := make([]string, 0, len(Scenarios))
	for n := range Scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runner is one scenario run's access to environments and options.
type runner struct {
	o     Options
	bin   Binaries
	log   io.Writer
	round int // which run this is, from 0, to keep kernels apart
	envs  []*Env
}

// env starts an environment with the run's options, adjusted by adjust.
func (r *runner) env(ctx context.Context, adjust func(*EnvOptions)) (*Env, error) {
	o := EnvOptions{
		DB: r.o.DB, PostgresURL: r.o.PostgresURL, BuildDuration: r.o.BuildDuration, PollInterval: r.o.PollInterval,
		ServiceURL: r.o.ServiceURL, GhsimURL: r.o.GhsimURL,
	}
	if adjust != nil {
		adjust(&o)
	}
	e, err := StartEnv(ctx, r.bin, o)
	if err != nil {
		return nil, err
	}
	r.envs = append(r.envs, e)
	return e, nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, time.Now().Format(time.TimeOnly)+" "+format+"\n", args...)
}

// external reports whether the run targets a running service and ghsim.
func (r *runner) external() bool { return r.o.ServiceURL != "" }

// kernel is a kernel release no earlier build of this run asked for.
func (r *runner) kernel(i int) string {
	return fmt.Sprintf("6.8.0-%d-gcp", 10000+int(time.Now().Unix()%1000)*100+r.round*100000+i)
}

func (r *runner) close() {
	for _, e := range r.envs {
		e.Close()
	}
	r.envs = nil
}

// Run runs a scenario o.Runs times and writes progress to log and the
// report as the last line of out.
func Run(ctx context.Context, o Options, out, log io.Writer) (Report, error) {
	sc, ok := Scenarios[o.Scenario]
	if !ok {
		return Report{}, fmt.Errorf("unknown scenario %q: accepted are %s", o.Scenario, strings.Join(Names(), ", "))
	}
	if o.DB != "sqlite" && o.DB != "postgres" {
		return Report{}, fmt.Errorf("-db %q: accepted are sqlite and postgres", o.DB)
	}
	fill(&o, sc.defaults)
	bin := o.Bin
	if bin == (Binaries{}) {
		dir, err := os.MkdirTemp("", "driverbuild-bench-bin-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(log, "building build-service, ghsim and the bare handler")
		if bin, err = Build(ctx, dir); err != nil {
			return Report{}, err
		}
	}

	rep := Report{Scenario: o.Scenario, DB: o.DB, Runs: o.Runs, Options: optionsOf(o)}
	if o.ServiceURL != "" {
		rep.DB = "external"
	}
	for i := range o.Runs {
		r := &runner{o: o, bin: bin, log: log, round: i}
		r.logf("%s run %d of %d", o.Scenario, i+1, o.Runs)
		f, err := sc.run(ctx, r)
		r.close()
		if err != nil {
			return rep, fmt.Errorf("%s run %d: %w", o.Scenario, i+1, err)
		}
		r.logf("%s", compact(f))
		rep.Each = append(rep.Each, f)
	}
	rep.Figures = spread(rep.Each)
	rep.Met = true
	for _, t := range sc.targets(o) {
		s, ok := rep.Figures[t.Figure]
		t.Met = ok && t.check(s.Median)
		rep.Met = rep.Met && t.Met
		rep.Targets = append(rep.Targets, t)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return rep, err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return rep, err
}

func fill(o *Options, d Options) {
	if o.Runs == 0 {
		o.Runs = 1
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.Connections == 0 {
		o.Connections = d.Connections
	}
	if o.Clients == 0 {
		o.Clients = d.Clients
	}
	if o.Builds == 0 {
		o.Builds = d.Builds
	}
	if o.BuildDuration == 0 {
		o.BuildDuration = cmpOr(d.BuildDuration, 2*time.Second)
	}
	if o.PollInterval == 0 {
		o.PollInterval = cmpOr(d.PollInterval, 15*time.Second)
	}
	if o.Finished == 0 {
		o.Finished = d.Finished
	}
	if o.Active == 0 {
		o.Active = d.Active
	}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func optionsOf(o Options) map[string]any {
	m := map[string]any{
		"duration": o.Duration.String(), "connections": o.Connections, "clients": o.Clients, "builds": o.Builds,
		"build_duration": o.BuildDuration.String(), "poll_interval": o.PollInterval.String(),
	}
	if o.Scenario == "soak" {
		m["finished"], m["active"] = o.Finished, o.Active
	}
	return m
}

func spread(runs []Figures) map[string]Spread {
	out := map[string]Spread{}
	for name := range runs[0] {
		var v []float64
		for _, f := range runs {
			if x, ok := f[name]; ok {
				v = append(v, x)
			}
		}
		slices.Sort(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		out[name] = Spread{Median: round(med), Min: round(v[0]), Max: round(v[len(v)-1])}
	}
	return out
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func compact(f Figures) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%g ", k, round(f[k]))
	}
	return strings.TrimSpace(b.String())
}
