package ghsim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild"
)

func TestParseDriverBuildWorkflow(t *testing.T) {
	t.Parallel()
	w, err := parseWorkflow("driver-build.yml", driverbuild.DriverBuildWorkflow)
	require.NoError(t, err)
	require.Equal(t, "driver-build", w.name)
	require.Equal(t, ".github/workflows/driver-build.yml", w.path)
	require.True(t, w.dispatchable)
	require.Equal(t, "build", w.jobName)

	var names []string
	for _, in := range w.inputs {
		names = append(names, in.name)
		require.Equal(t, in.name != "build_id", in.required, in.name)
	}
	require.Equal(t, []string{"kernel_version", "architecture", "distribution", "distro_version", "driver_version", "build_id"}, names)

	inputs, problem := w.resolveInputs(map[string]string{
		"kernel_version": "6.8.0-1053-gcp", "architecture": "x86_64", "distribution": "ubuntu",
		"distro_version": "24.04", "driver_version": "v0.1.2",
	})
	require.Empty(t, problem)
	require.Equal(t, "", inputs["build_id"], "default applied")
	inputs["build_id"] = "42"
	require.Equal(t, "build 42: ubuntu 24.04 6.8.0-1053-gcp x86_64 v0.1.2", w.displayTitle(inputs))
}

func TestParseWorkflowForms(t *testing.T) {
	t.Parallel()
	const jobs = "\njobs:\n  j:\n    runs-on: [self-hosted, arm64]\n"
	tests := map[string]struct {
		yaml         string
		dispatchable bool
		title        string
		labels       []string
	}{
		"string trigger": {"name: a\non: workflow_dispatch" + jobs, true, "a", []string{"self-hosted", "arm64"}},
		"list trigger":   {"name: a\non: [push, workflow_dispatch]" + jobs, true, "a", []string{"self-hosted", "arm64"}},
		"push only":      {"name: a\non: push" + jobs, false, "a", []string{"self-hosted", "arm64"}},
		"no name":        {"on:\n  workflow_dispatch:\n" + jobs, true, ".github/workflows/x.yml", []string{"self-hosted", "arm64"}},
		"expression runner": {
			"name: a\nrun-name: r ${{ github.event.inputs.k }}-${{inputs.k}} ${{ github.actor }}\non:\n  workflow_dispatch:\n    inputs:\n      k: {default: d}\njobs:\n  j:\n    runs-on: ${{ inputs.k }}\n",
			true, "r v-v ${{ github.actor }}", []string{"ubuntu-latest"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, err := parseWorkflow("x.yml", []byte(tc.yaml))
			require.NoError(t, err)
			require.Equal(t, tc.dispatchable, w.dispatchable)
			require.Equal(t, tc.title, w.displayTitle(map[string]string{"k": "v"}))
			require.Equal(t, tc.labels, w.labels)
		})
	}
}

func TestResolveInputs(t *testing.T) {
	t.Parallel()
	w, err := parseWorkflow("x.yml", []byte(`
on:
  workflow_dispatch:
    inputs:
      req: {required: true}
      withdefault: {required: true, default: x}
      pick: {type: choice, options: [a, b], default: a}
jobs: {j: {runs-on: ubuntu-latest}}
`))
	require.NoError(t, err)
	tests := map[string]struct {
		given   map[string]string
		want    map[string]string
		problem string
	}{
		"defaults":     {map[string]string{"req": "1"}, map[string]string{"req": "1", "withdefault": "x", "pick": "a"}, ""},
		"missing":      {map[string]string{}, nil, "Required input 'req' not provided"},
		"unexpected":   {map[string]string{"req": "1", "z": "", "y": ""}, nil, `Unexpected inputs provided: ["y","z"]`},
		"bad choice":   {map[string]string{"req": "1", "pick": "c"}, nil, "Provided value 'c' for input 'pick' not in the list of allowed values"},
		"empty string": {map[string]string{"req": ""}, map[string]string{"req": "", "withdefault": "x", "pick": "a"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, problem := w.resolveInputs(tc.given)
			require.Equal(t, tc.problem, problem)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseCreated(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := map[string]struct {
		in      string
		inside  []string
		outside []string
	}{
		"since time":  {">=2026-01-01T00:00:00Z", []string{"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}, []string{"2025-12-31T23:59:59Z"}},
		"after time":  {">2026-01-01T00:00:00Z", []string{"2026-01-01T00:00:01Z"}, []string{"2026-01-01T00:00:00Z"}},
		"after day":   {">2026-01-01", []string{"2026-01-02T00:00:00Z"}, []string{"2026-01-01T23:59:59Z"}},
		"until day":   {"<=2026-01-01", []string{"2026-01-01T23:59:59Z"}, []string{"2026-01-02T00:00:00Z"}},
		"before day":  {"<2026-01-01", []string{"2025-12-31T23:59:59Z"}, []string{"2026-01-01T00:00:00Z"}},
		"one day":     {"2026-01-01", []string{"2026-01-01T12:00:00Z"}, []string{"2026-01-02T00:00:00Z", "2025-12-31T23:59:59Z"}},
		"range":       {"2026-01-01..2026-01-02", []string{"2026-01-02T23:59:59Z"}, []string{"2026-01-03T00:00:00Z"}},
		"open start":  {"*..2026-01-01", []string{"2000-01-01T00:00:00Z"}, []string{"2026-01-02T00:00:00Z"}},
		"with offset": {">=2026-01-01T02:00:00 02:00", []string{"2026-01-01T00:00:00Z"}, []string{"2025-12-31T23:59:59Z"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, ok := parseCreated(tc.in)
			require.True(t, ok)
			for _, s := range tc.inside {
				require.True(t, tr.contains(day(s)), s)
			}
			for _, s := range tc.outside {
				require.False(t, tr.contains(day(s)), s)
			}
		})
	}
	for _, bad := range []string{"", "today", ">=", "2026-13-01", "a..b", "2026-01-01..x"} {
		_, ok := parseCreated(bad)
		require.False(t, ok, bad)
	}
}
