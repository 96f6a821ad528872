package kernel_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// releaseRe is the allow-list of a kernel release, as the README states it;
// kernel.ReleaseSyntax is its hand-written form.
var releaseRe = regexp.MustCompile(`^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$`)

func TestReleaseSyntax(t *testing.T) {
	t.Parallel()
	cases := []string{
		"", "6", "6.", ".8", "6.8", "6.8.0-1053-gcp", "6.15.5-200.fc42.x86_64", "5.18.14-1~bpo11+1",
		"6.8.0 -gcp", "6.8.0;rm -rf /", "6.8.0-\n", "a6.8", "6.a8", "6.8é", "06.08_x", "6..8", "6.8..",
		"6.8.0-1053-gcp$(id)", "6.8/0", "6.8\x00", "6.8.0-+~._-",
	}
	for _, r := range readReleases(t) {
		cases = append(cases, r.release)
	}
	for _, c := range cases {
		require.Equal(t, releaseRe.MatchString(c), kernel.ReleaseSyntax(c), "%q", c)
	}
}

func FuzzReleaseSyntax(f *testing.F) {
	f.Add("6.8.0-1053-gcp")
	f.Fuzz(func(t *testing.T, s string) {
		if releaseRe.MatchString(s) != kernel.ReleaseSyntax(s) {
			t.Fatalf("%q: the expression and the hand-written check disagree", s)
		}
	})
}
