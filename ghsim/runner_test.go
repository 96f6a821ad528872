package ghsim_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// runnerScript writes a shell script for -runner-command and returns the
// command that runs it.
func runnerScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "build.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\nset -eu\n"+body), 0o700))
	return path
}

type stepView struct{ Name, Conclusion string }

func jobSteps(t *testing.T, gh *github.Client, runID int64) []stepView {
	t.Helper()
	jobs, _, err := gh.Actions.ListWorkflowJobs(context.Background(), "riptides", "driver", runID, nil)
	require.NoError(t, err)
	require.Len(t, jobs.Jobs, 1)
	var out []stepView
	for _, st := range jobs.Jobs[0].Steps {
		out = append(out, stepView{st.GetName(), st.GetConclusion()})
	}
	return out
}

func TestRunnerCommandBuildsAndUploads(t *testing.T) {
	t.Parallel()
	cmd := runnerScript(t, `
echo "::group::Install kernel headers"
echo "headers for $KERNEL_VERSION"
echo "::group::Build driver"
name=$PACKAGE_NAME
printf 'package for %s %s %s %s\n' "$ARCHITECTURE" "$DISTRO_VERSION" "$BUILD_ID" "$KERNEL_VERSION" > "$OUT_DIR/$name"
(cd "$OUT_DIR" && sha256sum "$name" > "$name.sha256")
mkdir "$OUT_DIR/not-uploaded"
`)
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RunnerCommand: cmd})
	gh := installationClient(t, sim)
	runID := dispatch(t, sim, installationToken(t, sim), "6.8.0-1053-gcp")
	run := waitCompleted(t, gh, runID)
	require.Equal(t, "success", run.GetConclusion())
	require.Equal(t, []stepView{
		{"Set up job", "success"}, {"Install kernel headers", "success"}, {"Build driver", "success"},
		{"Upload", "success"}, {"Complete job", "success"},
	}, jobSteps(t, gh, runID))

	rel, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	labels := map[string]string{}
	for _, a := range rel.Assets {
		labels[a.GetName()] = a.GetLabel()
	}
	const name = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	require.Equal(t, map[string]string{name: "ubuntu 24.04", name + ".sha256": ""}, labels)
	resp, body := call(t, http.MethodGet, sim.URL()+"/riptides/driver/releases/download/v0.1.2/"+name, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "package for x86_64 24.04 b-6.8.0-1053-gcp 6.8.0-1053-gcp\n", string(body), "the inputs reach the command")
}

func TestRunnerCommandFailure(t *testing.T) {
	t.Parallel()
	cmd := runnerScript(t, `
echo "::group::Build driver"
echo "riptides.c:1: error" >&2
touch "$OUT_DIR/half-built.deb"
exit 3
`)
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RunnerCommand: cmd})
	gh := installationClient(t, sim)
	runID := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	require.Equal(t, "failure", waitCompleted(t, gh, runID).GetConclusion())
	require.Equal(t, []stepView{{"Set up job", "success"}, {"Build driver", "failure"}, {"Complete job", "success"}}, jobSteps(t, gh, runID))
	rel, _, err := gh.Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(t, err)
	require.Empty(t, rel.Assets, "a failed build uploads nothing")
}

func TestRunnerCommandCancelled(t *testing.T) {
	t.Parallel()
	cmd := runnerScript(t, "echo '::group::Build driver'\nsleep 600\n")
	sim := startSim(t, ghsim.Config{Releases: []string{"v0.1.2"}, RunnerCommand: cmd})
	gh := installationClient(t, sim)
	runID := dispatch(t, sim, installationToken(t, sim), "6.8.0-1")
	require.Eventually(t, func() bool {
		steps := jobSteps(t, gh, runID)
		return len(steps) > 1 && steps[1].Name == "Build driver"
	}, waitFor, 10*time.Millisecond)
	_, err := gh.Actions.CancelWorkflowRunByID(context.Background(), "riptides", "driver", runID)
	var accepted *github.AcceptedError
	require.ErrorAs(t, err, &accepted)
	require.Equal(t, "cancelled", waitCompleted(t, gh, runID).GetConclusion())
	// The cleanup's Close waits for the runner, which returns only once
	// the sleeping command is killed.
}
