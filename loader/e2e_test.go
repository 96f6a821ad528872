package loader_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/e2e"
	"github.com/riptides/driverbuild/loader"
)

// The loader against the real build-service and the GitHub simulator over
// HTTP: the package is missing, gets built, downloaded, verified,
// extracted and loaded; a second run (a reboot) needs no network.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		osRelease, kernel, pkg string
	}{
		"ubuntu deb": {"ubuntu-24.04", "6.8.0-1053-gcp", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"},
		"fedora rpm": {"fedora-42", "6.15.5-200.fc42.x86_64", "riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.1.2_amd64.rpm"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := e2e.Start(t, e2e.Options{})
			n := newNode(t, tc.osRelease, tc.kernel)
			n.backoff = poll
			cfg := n.config(env.ReleaseURL)
			cfg.ServiceURL = env.ServiceURL

			res := n.run(t, cfg)
			require.NoError(t, res.err)
			require.Equal(t, "package: "+tc.pkg+"\n", res.out)
			require.Equal(t, []string{"finit_module riptides v0.1.2 " + tc.kernel + " SMP preempt mod_unload modversions"}, n.kernel.Calls())

			reqs := n.http.Requests()
			require.Equal(t, "GET "+env.PackageURL("v0.1.2", tc.pkg), reqs[0], "the release first")
			require.Equal(t, "POST "+env.ServiceURL+"/build", reqs[1], "a 404 asks for a build")
			require.Regexp(t, "^GET "+regexp.QuoteMeta(env.ServiceURL)+"/status/[0-9a-f-]{36}$", reqs[2])
			// Downloads are redirected to storage, as GitHub's are.
			var asked []string
			for _, r := range reqs {
				if !strings.Contains(r, "/_sim/release-assets/") {
					asked = append(asked, r)
				}
			}
			require.Equal(t, "GET "+env.PackageURL("v0.1.2", tc.pkg), asked[len(asked)-1], "then the built package")
			require.Contains(t, reqs[len(reqs)-1], "/_sim/release-assets/", "fetched where the release redirects")

			// Reboot on the same kernel: the module is gone, the package is cached.
			n.kernel = newKernel()
			res = n.run(t, cfg)
			require.NoError(t, res.err)
			require.Equal(t, []string{"finit_module riptides v0.1.2 " + tc.kernel + " SMP preempt mod_unload modversions"}, n.kernel.Calls())
			require.Len(t, n.http.Requests(), len(reqs), "the second run uses the cache")

			// Another node on the same kernel finds the package in the release at once.
			other := newNode(t, tc.osRelease, tc.kernel)
			res = other.run(t, other.config(env.ReleaseURL))
			require.NoError(t, res.err)
			for _, r := range other.http.Requests() {
				require.False(t, strings.HasPrefix(r, "POST"), "no build for the second node: %s", r)
			}
		})
	}
}

func TestEndToEndBuildFails(t *testing.T) {
	t.Parallel()
	env := e2e.Start(t, e2e.Options{FailKernels: regexp.MustCompile(`^6\.8\.0-1099-gcp$`)})
	n := newNode(t, "ubuntu-24.04", "6.8.0-1099-gcp")
	n.backoff = poll
	cfg := n.config(env.ReleaseURL)
	cfg.ServiceURL = env.ServiceURL
	res := n.run(t, cfg)
	require.Equal(t, loader.ExitUnavailable, res.code, "%v", res.err)
	require.ErrorContains(t, res.err, "build_failed")
	require.Empty(t, n.kernel.Calls())
}

// poll spaces status polls a little, so a test build of a few hundred
// milliseconds is not polled in a tight loop.
func poll() backoff.BackOff { return backoff.NewConstantBackOff(50 * time.Millisecond) }
