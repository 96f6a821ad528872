package listing_test

import (
	"net"
	"testing"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/listing"
)

func simClient(t *testing.T, cfg ghsim.Config) (*ghsim.Server, *ghclient.Client) {
	t.Helper()
	sim, err := ghsim.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sim.Start(ln)
	t.Cleanup(func() { _ = sim.Close() })
	creator := githubapp.NewClientCreator(sim.URL()+"/api/v3/", "", sim.AppID(), sim.PrivateKeyPEM())
	return sim, ghclient.New(creator, ghclient.Repo{Owner: "riptides", Name: "driver", Workflow: "driver-build.yml", Ref: "main",
		InstallationID: sim.InstallationID()})
}

const (
	protectionRoute = "GET /api/v3/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks"
	rulesRoute      = "GET /api/v3/repos/{owner}/{repo}/rules/branches/{branch}"
)

// The checks a merge waits for come from classic protection, from
// rulesets when there is no protection, else from the config; with
// neither readable, or nothing required at all, nothing merges.
func TestChecksDecider(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in       string
		fallback []string
		faults   []ghsim.Fault
		want     []string
		fails    string
	}{
		"classic protection":            {in: ghsim.RequiredInProtection, fallback: []string{"lint"}, want: []string{"validate-kernels"}},
		"rulesets only, protection 404": {in: ghsim.RequiredInRulesets, fallback: []string{"lint"}, want: []string{"validate-kernels"}},
		"neither: the config":           {in: ghsim.RequiredNowhere, fallback: []string{"lint", "validate-kernels"}, want: []string{"lint", "validate-kernels"}},
		"nothing required anywhere":     {in: ghsim.RequiredNowhere, fails: "no required checks"},
		"neither readable": {in: ghsim.RequiredInProtection, fallback: []string{"lint"}, fails: "neither branch protection nor rulesets",
			faults: []ghsim.Fault{{Route: protectionRoute, Status: 502, Count: 10}, {Route: rulesRoute, Status: 502, Count: 10}}},
		"rules unreadable, nothing protected": {in: ghsim.RequiredNowhere, fallback: []string{"lint"}, fails: "partly unreadable",
			faults: []ghsim.Fault{{Route: rulesRoute, Status: 503, Count: 10}}},
		"protection unreadable, rulesets read": {in: ghsim.RequiredInRulesets, want: []string{"validate-kernels"},
			faults: []ghsim.Fault{{Route: protectionRoute, Status: 500, Count: 10}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim, gh := simClient(t, ghsim.Config{RequiredChecksIn: tc.in})
			for _, f := range tc.faults {
				require.NoError(t, sim.InjectFault(f))
			}
			head, found, err := gh.BranchHead(t.Context(), "main")
			require.NoError(t, err)
			require.True(t, found)
			v, err := (&listing.Checks{GitHub: gh, Fallback: tc.fallback}).Decide(t.Context(), "main", head)
			if tc.fails != "" {
				require.ErrorContains(t, err, tc.fails)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, v.Required)
			require.Equal(t, tc.want, v.Pending, "main's head has no checks")
			require.Empty(t, v.Failed)
		})
	}
}
