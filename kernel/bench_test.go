package kernel_test

import (
	"testing"

	"github.com/riptides/driverbuild/kernel"
)

// The functions every POST /build and every matrix row runs, over the real
// releases of kernel-releases.tsv. Release parsing is to do at least a
// million releases a second (BENCHMARKS.md).

// requests are the fixture's releases as the loaders on those machines
// would ask for them.
func requests(b *testing.B) []kernel.Request {
	var out []kernel.Request
	for _, r := range readReleases(b) {
		d, ok := fixtureDistro[r.distro]
		if !ok {
			continue
		}
		out = append(out, kernel.Request{
			KernelVersion: r.release, Architecture: "x86_64", Distribution: d[0], DistroVersion: d[1], DriverVersion: "v0.1.2",
		})
	}
	return out
}

func BenchmarkValidateRelease(b *testing.B) {
	reqs := requests(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := kernel.ValidateRelease(reqs[i%len(reqs)].KernelVersion); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMarkerOf(b *testing.B) {
	rels := readReleases(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		kernel.MarkerOf(rels[i%len(rels)].release)
		i++
	}
}

// Normalize is the whole validation of a request: fields, allow-lists,
// the distro version the release names.
func BenchmarkNormalize(b *testing.B) {
	cat, reqs := kernel.DefaultCatalog(), requests(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := cat.Normalize(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPackageName(b *testing.B) {
	cat, naming := kernel.DefaultCatalog(), kernel.DefaultNaming()
	var reqs []kernel.Request
	for _, r := range requests(b) {
		n, err := cat.Normalize(r)
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, n)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pkg, err := cat.PackageName(naming, reqs[i%len(reqs)])
		if err != nil {
			b.Fatal(err)
		}
		_ = kernel.ReleaseTag("v0.1.2", pkg)
		i++
	}
}

// BenchmarkParseRelease is what a release costs before anything else
// reads it: the allow-list, then the distro version it names.
func BenchmarkParseRelease(b *testing.B) {
	reqs := requests(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)].KernelVersion
		if err := kernel.ValidateRelease(r); err != nil {
			b.Fatal(err)
		}
		kernel.MarkerOf(r)
		i++
	}
}
