package images_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// Every distribution of the catalog has its branch in install-headers.sh,
// in the branch of its package format, and the script names no other: a
// distribution added to the catalog without one would fail every build.
// (TestBaseDockerfiles checks its build image.)
func TestInstallHeadersKnowsTheCatalog(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("scripts/install-headers.sh")
	require.NoError(t, err)
	script := string(b)

	// The case that picks the headers directory, one branch per format.
	block := regexp.MustCompile(`(?s)\ncase "\$DISTRIBUTION" in\n(.*?)\nesac\n`).FindStringSubmatch(script)
	require.NotNil(t, block, "install-headers.sh picks the headers directory in a case on $DISTRIBUTION")
	branches := map[kernel.Format][]string{}
	dirs := map[kernel.Format]string{kernel.FormatDeb: "/usr/src/linux-headers-", kernel.FormatRPM: "/usr/src/kernels/"}
	for _, m := range regexp.MustCompile(`(?m)^([a-z0-9 |]+)\) headers="\$SYSROOT(\S+?)\$KVERSION"`).FindAllStringSubmatch(block[1], -1) {
		var format kernel.Format
		for f, dir := range dirs {
			if m[2] == dir {
				format = f
			}
		}
		require.NotEmpty(t, format, "headers directory %s", m[2])
		for _, name := range strings.Split(m[1], "|") {
			branches[format] = append(branches[format], strings.TrimSpace(name))
		}
	}
	var all []string
	want := map[kernel.Format][]string{}
	for _, d := range kernel.DefaultDistributions() {
		want[d.Format] = append(want[d.Format], d.Name)
		all = append(all, d.Name)
	}
	for f := range want {
		slices.Sort(want[f])
		slices.Sort(branches[f])
	}
	require.Equal(t, want, branches, "the distributions of the deb and rpm branches of the headers directory")
	require.Contains(t, block[1], `accepted are `+strings.Join(all, ", ")+`" ;;`, "the refusal lists the catalog")
}

// The workflows take the distributions from the catalog (through
// matrix-gen) rather than keeping a list of their own.
func TestWorkflowsListNoDistributions(t *testing.T) {
	t.Parallel()
	dir := "../.github/workflows"
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name())
		require.NoError(t, err)
		for _, d := range kernel.DefaultDistributions() {
			for _, line := range strings.Split(string(b), "\n") {
				// The runner labels (ubuntu-24.04) are GitHub's, not ours.
				line = regexp.MustCompile(`ubuntu-[0-9.]+(-arm)?|ubuntu-latest|amazonlinux\.com`).ReplaceAllString(line, "")
				require.NotRegexp(t, `\b`+d.Name+`\b`, line, "%s lists %s; derive it from the catalog (matrix-gen) instead", e.Name(), d.Name)
			}
		}
	}
}
