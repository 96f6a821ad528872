package listing_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/listing"
)

func TestBranchFor(t *testing.T) {
	t.Parallel()
	for want, r := range map[string]kernel.Request{
		"add-kernel/ubuntu/x86_64/6-8-0-1053-gcp":                       {KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04"},
		"add-kernel/fedora/aarch64/6-15-5-200-fc42-aarch64":             {KernelVersion: "6.15.5-200.fc42.aarch64", Architecture: "aarch64", Distribution: "fedora", DistroVersion: "42"},
		"add-kernel/amazonlinux/x86_64/6-1-119-129-201-amzn2023-x86_64": {KernelVersion: "6.1.119-129.201.amzn2023.x86_64", Architecture: "x86_64", Distribution: "amazonlinux", DistroVersion: "2023"},
		"add-kernel/debian/x86_64/6-12-63+deb13-amd64":                  {KernelVersion: "6.12.63+deb13-amd64", Architecture: "x86_64", Distribution: "debian", DistroVersion: "13"},
	} {
		require.Equal(t, want, listing.BranchFor(r))
		require.True(t, listing.Ours(want))
	}
	other := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "22.04", DriverVersion: "v0.1.0"}
	require.Equal(t, "add-kernel/ubuntu/x86_64/6-8-0-1053-gcp", listing.BranchFor(other), "one branch per release, whatever the driver and distro version")
	require.Equal(t, "add-kernel/batch/0193", listing.BatchBranch("0193"))
	require.False(t, listing.Ours("main"))
	require.False(t, listing.Ours("feature/add-kernel/x"))
}
