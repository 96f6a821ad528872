package qemu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/qemu"
)

func TestDependedRelease(t *testing.T) {
	t.Parallel()
	// apt-cache depends on Debian 12, December 2026.
	const amd64 = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n"
	const cloud = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n"
	for name, tc := range map[string]struct {
		out, flavour, want string
	}{
		"amd64":           {amd64, "amd64", "6.1.0-57-amd64"},
		"cloud":           {cloud, "cloud-amd64", "6.1.0-57-cloud-amd64"},
		"other flavour":   {cloud, "amd64", ""},
		"a recommends":    {"linux-image-amd64\n  Recommends: linux-image-6.1.0-57-amd64\n", "amd64", ""},
		"not a release":   {"linux-image-amd64\n  Depends: linux-image-$(id)-amd64\n", "amd64", ""},
		"nothing at all":  {"", "amd64", ""},
		"backports image": {"linux-image-amd64\n  Depends: linux-image-6.12.57+deb12-amd64\n", "amd64", "6.12.57+deb12-amd64"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := qemu.DependedRelease([]byte(tc.out), tc.flavour)
			if tc.want == "" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
