package builds

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	driverbuild "github.com/riptides/driverbuild"
	"github.com/riptides/driverbuild/lifecycle"
)

// The run-name that driver-build.yml renders is what maps a run to its
// build: reading it back from the real workflow file keeps the two in step.
func TestBuildIDFromTheWorkflowsRunName(t *testing.T) {
	t.Parallel()
	var wf struct {
		RunName string `yaml:"run-name"`
	}
	require.NoError(t, yaml.Unmarshal(driverbuild.DriverBuildWorkflow, &wf))
	const id = "01a21cf6-92a5-792f-96bb-2a01ef022348"
	in := map[string]string{
		"build_id": id, "distribution": "ubuntu", "distro_version": "24.04",
		"kernel_version": "6.8.0-1053-gcp", "architecture": "x86_64", "driver_version": "v0.1.2",
	}
	expr := regexp.MustCompile(`\$\{\{\s*inputs\.([a-z_]+)\s*\}\}`)
	rendered := expr.ReplaceAllStringFunc(wf.RunName, func(m string) string { return in[expr.FindStringSubmatch(m)[1]] })
	require.NotContains(t, rendered, "${{")
	require.Equal(t, id, BuildIDFromRunName(rendered))

	for _, title := range []string{
		strings.Replace(rendered, id, "", 1), // a manual or nightly run
		"nightly batch",
		"build 01a21cf6-92a5-792f-96bb-2a01ef02234: short id",
		"rebuild " + id + ": not ours",
	} {
		require.Empty(t, BuildIDFromRunName(title), title)
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	for conclusion, want := range map[string]struct {
		status lifecycle.Status
		reason lifecycle.Reason
	}{
		"success":         {lifecycle.StatusDone, lifecycle.ReasonNone},
		"failure":         {lifecycle.StatusError, lifecycle.ReasonBuildFailed},
		"startup_failure": {lifecycle.StatusError, lifecycle.ReasonBuildFailed},
		"cancelled":       {lifecycle.StatusError, lifecycle.ReasonCancelled},
		"timed_out":       {lifecycle.StatusError, lifecycle.ReasonTimedOut},
		"action_required": {lifecycle.StatusError, lifecycle.ReasonBuildFailed},
	} {
		status, reason := outcome(conclusion)
		require.Equal(t, want.status, status, conclusion)
		require.Equal(t, want.reason, reason, conclusion)
	}
}

func TestDistroVersionOfLabel(t *testing.T) {
	t.Parallel()
	for label, want := range map[string]string{
		"ubuntu 24.04":     "24.04",
		"centos stream10":  "stream10",
		" debian 13 ":      "13",
		"":                 "",
		"Ubuntu 24.04":     "",
		"ubuntu 24.04; rm": "",
		"ubuntu":           "",
	} {
		require.Equal(t, want, distroVersionOfLabel(label), label)
	}
}
