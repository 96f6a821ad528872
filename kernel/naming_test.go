package kernel_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

func TestParseChecksum(t *testing.T) {
	t.Parallel()
	const pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	sum := strings.Repeat("ab", 32)
	for data, want := range map[string]string{
		sum:                               sum,
		sum + "\n":                        sum,
		sum + "  " + pkg + "\n":           sum,
		strings.ToUpper(sum) + " *" + pkg: sum,
		sum + "  out/deb/" + pkg:          sum,
	} {
		got, err := kernel.ParseChecksum(data, pkg)
		require.NoError(t, err, data)
		require.Equal(t, want, got, data)
	}
	for data, msg := range map[string]string{
		"":                          "does not start with a sha256 in hex",
		"not a digest\n":            "does not start with a sha256 in hex",
		sum[:60] + "  " + pkg:       "does not start with a sha256 in hex",
		sum + "  other.deb\n" + sum: `is the digest of "other.deb"`,
	} {
		_, err := kernel.ParseChecksum(data, pkg)
		require.ErrorContains(t, err, kernel.ChecksumName(pkg)+" "+msg, data)
	}
}
