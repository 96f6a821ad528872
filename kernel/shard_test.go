package kernel_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
)

// Where a package lives is published: these must never change, or every
// package published under them would 404 at its computed URL.
func TestReleaseTagIsStable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ driverVersion, pkg, tag string }{
		"ubuntu":             {"v0.2.0", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0_amd64.deb", "v0.2.0+shard.2"},
		"fedora":             {"v0.2.0", "riptides-driver-fedora-6.15.5-200.fc42.x86_64_v0.2.0_amd64.rpm", "v0.2.0+shard.3"},
		"amazonlinux":        {"v0.2.0", "riptides-driver-amazonlinux-6.1.119-129.201.amzn2023.x86_64_v0.2.0_amd64.rpm", "v0.2.0+shard.6"},
		"a prerelease":       {"v1.4.0-rc.1", "riptides-driver-debian-6.12.63+deb13-amd64_v1.4.0-rc.1_amd64.deb", "v1.4.0-rc.1+shard.8"},
		"before shards":      {"v0.1.2", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb", "v0.1.2"},
		"first of v0.1.x":    {"v0.1.0", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.0_amd64.deb", "v0.1.0"},
		"prerelease of v0.2": {"v0.2.0-rc.1", "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.2.0-rc.1_amd64.deb", "v0.2.0-rc.1+shard.3"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.tag, kernel.ReleaseTag(tc.driverVersion, tc.pkg))
			require.Contains(t, kernel.ReleaseTags(tc.driverVersion), tc.tag)
		})
	}
}

func TestShards(t *testing.T) {
	t.Parallel()
	for v, n := range map[string]int{
		"v0.0.1": 0, "v0.1.2": 0, "v0.1.99-rc.1": 0,
		"v0.2.0-rc.1": 8, "v0.2.0": 8, "v0.10.0": 8, "v1.0.0": 8, "v10.0.0": 8,
		"latest": 0,
	} {
		require.Equal(t, n, kernel.Shards(v), v)
		require.Len(t, kernel.ReleaseTags(v), 1+n, v)
		require.Equal(t, v, kernel.ReleaseTags(v)[0], "the plain release first")
	}
}

// 1,200 kernels of one driver version (the names of a real flavour
// sequence, which differ in a few digits) fit their shards with room to
// spare, and no shard is left empty.
func TestShardsFitTheAssetLimit(t *testing.T) {
	t.Parallel()
	count := map[string]int{}
	for i := 1; i <= 300; i++ {
		for _, flavour := range []string{"generic", "gcp", "aws", "azure"} {
			pkg := fmt.Sprintf("riptides-driver-ubuntu-6.8.0-%d-%s_v0.2.0_amd64.deb", i, flavour)
			count[kernel.ReleaseTag("v0.2.0", pkg)]++
		}
	}
	require.Len(t, count, kernel.Shards("v0.2.0"))
	for tag, n := range count {
		require.Less(t, 2*n, kernel.ReleaseAssetLimit, "%s: %d packages and their .sha256", tag, n)
		require.Less(t, n, 1200/8*5/4, "%s holds %d of 1,200: the hash spreads unevenly", tag, n)
	}
}

func TestDriverVersionOfTag(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"v0.1.2", "v0.2.0", "v1.4.0-rc.1"} {
		for i, tag := range kernel.ReleaseTags(v) {
			got, shard, ok := kernel.DriverVersionOfTag(tag)
			require.True(t, ok, tag)
			require.Equal(t, v, got)
			require.Equal(t, i, shard)
			if i > 0 {
				require.Error(t, kernel.ValidateDriverVersion(tag), "a shard tag is no driver version: %s", tag)
			}
		}
	}
	for _, tag := range []string{"v0.2.0+shard.0", "v0.2.0+shard.9", "v0.2.0+shard.01", "v0.2.0+shard.x", "v0.2.0+shard.", "v0.1.2+shard.1", "latest", "v0.2.0+build.1", ""} {
		_, _, ok := kernel.DriverVersionOfTag(tag)
		require.False(t, ok, tag)
	}
}
