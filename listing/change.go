package listing

import (
	"fmt"
	"strings"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
)

// branchPrefix starts every branch the loop proposes on; the push and
// check webhooks of other branches are none of its business.
const branchPrefix = "add-kernel/"

// Ours reports whether a branch is one the loop proposes on.
func Ours(branch string) bool { return strings.HasPrefix(branch, branchPrefix) }

// BranchFor is the branch that proposes one kernel:
// add-kernel/{distribution}/{arch}/{release with . replaced by -}. Every
// build of the kernel, whatever its driver version, proposes on it, so a
// kernel is proposed once. Ubuntu 22.04 and 24.04 builds of one release
// share the branch, which then adds both entries.
func BranchFor(r kernel.Request) string {
	return branchPrefix + r.Distribution + "/" + r.Architecture + "/" + strings.ReplaceAll(r.KernelVersion, ".", "-")
}

// BatchBranch is the branch of the batch a build opened.
func BatchBranch(firstBuildID string) string { return branchPrefix + "batch/" + firstBuildID }

func describe(r kernel.Request) string {
	return fmt.Sprintf("%s %s %s (%s)", r.Distribution, r.DistroVersion, r.KernelVersion, r.Architecture)
}

// title is the pull request's and the merge commit's title.
func title(bs []store.Build) string {
	if len(bs) == 1 {
		return "kernels.json: add " + describe(bs[0].Request)
	}
	return fmt.Sprintf("kernels.json: add %d kernels", len(bs))
}

// body says which kernels the pull request adds and links the builds and
// their runs.
func body(bs []store.Build) string {
	var b strings.Builder
	b.WriteString("Kernels built on demand by the build-service, added to `.github/kernels.json` so that the nightly batch rebuilds them for every driver version.\n\n")
	b.WriteString("| kernel | build | run |\n|---|---|---|\n")
	for _, bl := range bs {
		run := "-"
		if bl.RunURL != "" {
			run = fmt.Sprintf("[%d](%s)", bl.RunID, bl.RunURL)
		}
		fmt.Fprintf(&b, "| %s | `%s` (driver %s) | %s |\n", describe(bl.Request), bl.ID, bl.DriverVersion, run)
	}
	b.WriteString("\nOpened by the build-service, which merges it once the required checks pass. No one needs to review it.\n")
	return b.String()
}

func commitMessage(added []kernel.Request) string {
	if len(added) == 1 {
		return "kernels.json: add " + describe(added[0])
	}
	lines := []string{fmt.Sprintf("kernels.json: add %d kernels", len(added)), ""}
	for _, r := range added {
		lines = append(lines, "- "+describe(r))
	}
	return strings.Join(lines, "\n")
}
