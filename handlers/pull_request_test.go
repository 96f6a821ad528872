package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
)

// pulls records the pull requests the webhooks pass on.
type pulls struct {
	mu   sync.Mutex
	seen []int
}

func (p *pulls) ObservePush(context.Context, *builds.Delivery, string, string, bool) error {
	return nil
}
func (p *pulls) ObserveCheck(context.Context, *builds.Delivery, string, string, string) error {
	return nil
}
func (p *pulls) ObservePull(_ context.Context, _ *builds.Delivery, _ string, pr ghclient.PullRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, pr.Number)
	return nil
}

// A pull request from a fork may have a head branch named like ours
// (add-kernel/...): it is not ours, and must not be noted as the pull
// request of our branch, which the App would then merge.
func TestPullRequestFromAForkIsIgnored(t *testing.T) {
	t.Parallel()
	l := &pulls{}
	h := newHarness(t, l)
	payload := func(number int, headRepo string) []byte {
		return fmt.Appendf(nil, `{"action": "opened", "number": %d, "pull_request": {"number": %[1]d, "state": "open",
			"head": {"ref": "add-kernel/ubuntu/x86_64/6-8-0-1021-gcp", "sha": "00000000000000000000000000000000000000ff", "repo": {"full_name": %q}},
			"base": {"ref": "main", "repo": {"full_name": %q}}},
			"repository": {"full_name": %[3]q}}`, number, headRepo, repo)
	}
	require.Equal(t, http.StatusOK, h.send("pull_request", "fork", payload(2, "mallory/driver"), secret))
	require.Equal(t, http.StatusOK, h.send("pull_request", "ours", payload(3, repo), secret))
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Equal(t, []int{3}, l.seen)
}
