// Package matrix turns the kernels we build for (kernels.json, or
// kernel-crawler data and Amazon Linux livepatch metadata) into GitHub
// Actions build matrices: distro versions derived, unsupported kernels
// skipped with their reason, what the release already holds left out, and
// the rest split into chunks GitHub accepts.
package matrix

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/riptides/driverbuild/kernel"
)

// MaxChunk is GitHub's limit of jobs per matrix.
const MaxChunk = 256

// Options says what to build the matrix for.
type Options struct {
	Catalog       *kernel.Catalog
	Naming        kernel.Naming
	DriverVersion string
	// Existing are the asset names the driver version's release holds; a
	// kernel whose package and .sha256 are both there is not built again.
	// Nil builds everything.
	Existing map[string]bool
	// ChunkSize is the number of jobs per chunk, 1 to MaxChunk; 0 is MaxChunk.
	ChunkSize int
}

// Chunk is one GitHub Actions matrix.
type Chunk struct {
	Include []kernel.Request `json:"include"`
}

// Result is what matrix-gen prints: the matrices and the skip report.
type Result struct {
	Chunks  []Chunk   `json:"chunks"`
	Skipped []Skipped `json:"skipped"`

	Kernels int `json:"-"` // distinct kernels that can be built
	Built   int `json:"-"` // of those, how many the release already holds
}

type candidate struct {
	req   kernel.Request
	entry Entry
	name  string
}

// Build derives every entry's build, drops duplicates and what is already
// released, and chunks the rest. Skipped entries from reading the sources
// are passed through into the report. The output is sorted, so the same
// input always gives the same matrix.
func Build(entries []Entry, skipped []Skipped, o Options) (Result, error) {
	if err := kernel.ValidateDriverVersion(o.DriverVersion); err != nil {
		return Result{}, err
	}
	if err := o.Naming.Validate(); err != nil {
		return Result{}, err
	}
	size := cmp.Or(o.ChunkSize, MaxChunk)
	if size < 1 || size > MaxChunk {
		return Result{}, fmt.Errorf("chunk size %d: accepted are 1 to %d", o.ChunkSize, MaxChunk)
	}
	res := Result{Skipped: slices.Clone(skipped)}

	byKey := map[string]bool{}
	byName := map[string]*candidate{}
	for _, e := range entries {
		r, s := derive(o.Catalog, e, o.DriverVersion)
		if s != nil {
			res.Skipped = append(res.Skipped, *s)
			continue
		}
		if byKey[r.CacheKey()] {
			continue // the same build, named by another source or mirror
		}
		byKey[r.CacheKey()] = true
		name, err := o.Catalog.PackageName(o.Naming, r)
		if err != nil {
			return Result{}, err
		}
		c := &candidate{req: r, entry: e, name: name}
		// Names without {distro_version} collide when one release is built
		// for two versions (Ubuntu's HWE kernels): keep the newer version,
		// where that kernel series is the GA one.
		if other, taken := byName[name]; taken {
			keep, drop := other, c
			if newer(o.Catalog, c.req, other.req) {
				keep, drop = c, other
			}
			byName[name] = keep
			res.Skipped = append(res.Skipped, skip(drop.entry, "%s %s: its package %s is also the one of %s %s, which is built instead; a name template with {distro_version} keeps them apart",
				drop.req.Distribution, drop.req.DistroVersion, name, keep.req.Distribution, keep.req.DistroVersion))
			continue
		}
		byName[name] = c
	}

	todo := make([]kernel.Request, 0, len(byName))
	for name, c := range byName {
		res.Kernels++
		// A package without its .sha256 cannot be verified by a loader:
		// build it again, and the upload completes the pair.
		if o.Existing[name] && o.Existing[kernel.ChecksumName(name)] {
			res.Built++
			continue
		}
		todo = append(todo, c.req)
	}
	slices.SortFunc(todo, compareRequests)
	res.Chunks = []Chunk{}
	for c := range slices.Chunk(todo, size) {
		res.Chunks = append(res.Chunks, Chunk{Include: c})
	}

	slices.SortFunc(res.Skipped, func(a, b Skipped) int {
		return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.KernelRelease, b.KernelRelease), cmp.Compare(a.Reason, b.Reason))
	})
	res.Skipped = slices.Compact(res.Skipped)
	if res.Skipped == nil {
		res.Skipped = []Skipped{}
	}
	return res, nil
}

// newer reports whether a's distro version comes after b's in the
// catalog, which lists each distribution's versions oldest first. Versions
// do not compare as strings ("9" > "10") or numbers ("stream10").
func newer(cat *kernel.Catalog, a, b kernel.Request) bool {
	d, _ := cat.Lookup(a.Distribution)
	return slices.Index(d.Versions, a.DistroVersion) > slices.Index(d.Versions, b.DistroVersion)
}

func compareRequests(a, b kernel.Request) int {
	return cmp.Or(
		cmp.Compare(a.Distribution, b.Distribution),
		cmp.Compare(a.DistroVersion, b.DistroVersion),
		cmp.Compare(a.Architecture, b.Architecture),
		cmp.Compare(a.KernelVersion, b.KernelVersion),
	)
}
