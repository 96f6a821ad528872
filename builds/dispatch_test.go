package builds_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

const dispatchRoute = "POST /api/v3/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"

// The last dispatch attempt fails with a 502 after GitHub started the
// run: the build follows that run instead of ending dispatch_failed while
// it goes on.
func TestFinalDispatchAnswerLost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for name, tc := range map[string]struct {
		after bool // the fault comes after GitHub carried the dispatch out
		want  lifecycle.Status
	}{
		"the run started":  {after: true, want: lifecycle.StatusInProgress},
		"no run was begun": {after: false, want: lifecycle.StatusError},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newOnSim(t, builds.Config{PollInterval: 3 * time.Second, RetryDelay: 200 * time.Millisecond})
			require.NoError(t, env.sim.InjectFault(ghsim.Fault{Route: dispatchRoute, Status: http.StatusBadGateway, AfterHandling: tc.after}))
			req := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.2.0"}
			b, _, err := env.st.BuildCreate(ctx, store.BuildCreateParams{ID: "01a21cf6-92a5-792f-96bb-2a01ef022348", CacheKey: req.CacheKey(),
				Request: req, Package: "p.deb", Now: time.Now()})
			require.NoError(t, err)

			err = env.svc.Dispatch(ctx, b.ID, true, time.Now().Add(time.Second))
			require.NoError(t, err)
			got, err := env.st.BuildByID(ctx, b.ID)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Status, got.Progress)
			if tc.after {
				require.NotZero(t, got.RunID, "the build follows the run GitHub started")
			} else {
				require.Equal(t, lifecycle.ReasonDispatchFailed, got.Reason)
			}
			require.EqualValues(t, 1, env.sim.Stats().ByRoute[dispatchRoute], "one dispatch call")
		})
	}
}
