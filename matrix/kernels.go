package matrix

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/riptides/driverbuild/kernel"
)

// KernelEntry is one kernel in kernels.json. Target is a distribution
// (ubuntu) or a driverkit target (ubuntu-gcp, amazonlinux2023);
// DistroVersion may be left out when the release or target says it.
type KernelEntry struct {
	Target        string `json:"target"`
	KernelRelease string `json:"kernelrelease"`
	DistroVersion string `json:"distroversion,omitempty"`
}

// Kernels is .github/kernels.json, the kernels somebody asked for, by
// architecture (x86_64, aarch64). Each list is sorted by target, then
// kernelrelease, then distroversion, comparing bytes (as jq's sort_by does).
type Kernels map[string][]KernelEntry

var architectures = []string{kernel.ArchAarch64, kernel.ArchX86_64}

// ParseKernels reads kernels.json strictly: unknown fields and
// architectures are errors.
func ParseKernels(data []byte) (Kernels, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var k Kernels
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("kernels.json: %w; the format is {\"x86_64\":[{\"target\":...,\"kernelrelease\":...,\"distroversion\":...}],\"aarch64\":[...]}", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("kernels.json: data after the top-level object")
	}
	// encoding/json keeps the last of two equal keys: a second "x86_64"
	// would silently replace the first list.
	if err := noDuplicateKeys(json.NewDecoder(bytes.NewReader(data)), ""); err != nil {
		return nil, fmt.Errorf("kernels.json: %w", err)
	}
	for arch := range k {
		if !slices.Contains(architectures, arch) {
			return nil, fmt.Errorf("kernels.json: architecture %q: accepted are %v", arch, architectures)
		}
	}
	return k, nil
}

// Entries lists the kernels in file order, x86_64 first.
func (k Kernels) Entries() []Entry {
	var out []Entry
	for _, arch := range []string{kernel.ArchX86_64, kernel.ArchAarch64} {
		for _, e := range k[arch] {
			out = append(out, Entry{Arch: arch, Target: e.Target, KernelRelease: e.KernelRelease, DistroVersion: e.DistroVersion})
		}
	}
	return out
}

func compareEntries(a, b KernelEntry) int {
	return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.KernelRelease, b.KernelRelease), cmp.Compare(a.DistroVersion, b.DistroVersion))
}

// Add puts an entry into its sorted place and reports whether it was new.
func (k Kernels) Add(arch string, e KernelEntry) bool {
	list := k[arch]
	i, found := slices.BinarySearchFunc(list, e, compareEntries)
	if found {
		return false
	}
	k[arch] = slices.Insert(list, i, e)
	return true
}

// Marshal writes the file as it is committed: indented, newline-terminated.
func (k Kernels) Marshal() ([]byte, error) {
	out := Kernels{}
	for _, arch := range architectures {
		out[arch] = k[arch]
		if out[arch] == nil {
			out[arch] = []KernelEntry{}
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ValidateKernels is the pull-request check of kernels.json: it parses, every
// entry names a supported distribution and version and a valid release, each
// list is sorted, and no kernel is listed twice. It reports every problem.
func ValidateKernels(cat *kernel.Catalog, data []byte) error {
	k, err := ParseKernels(data)
	if err != nil {
		return err
	}
	return k.Validate(cat)
}

// Validate checks a parsed kernels.json as ValidateKernels does.
func (k Kernels) Validate(cat *kernel.Catalog) error {
	var errs []error
	for _, arch := range architectures {
		list := k[arch]
		seen := map[string]int{}
		for i, e := range list {
			at := fmt.Sprintf("%s[%d] (%s %s)", arch, i, e.Target, e.KernelRelease)
			if i > 0 && compareEntries(list[i-1], e) > 0 {
				errs = append(errs, fmt.Errorf("%s: not sorted: it must come before %s[%d] (%s %s); entries are sorted by target, kernelrelease, distroversion", at, arch, i-1, list[i-1].Target, list[i-1].KernelRelease))
			}
			if e.Target == "" || e.KernelRelease == "" {
				errs = append(errs, fmt.Errorf("%s: target and kernelrelease are required", at))
				continue
			}
			// The file names no driver version; any valid one will do.
			r, s := derive(cat, Entry{Arch: arch, Target: e.Target, KernelRelease: e.KernelRelease, DistroVersion: e.DistroVersion}, "v0.0.0")
			if s != nil {
				errs = append(errs, fmt.Errorf("%s: %s", at, s.Reason))
				continue
			}
			key := r.CacheKey()
			if j, dup := seen[key]; dup {
				errs = append(errs, fmt.Errorf("%s: the same kernel as %s[%d] (%s %s %s)", at, arch, j, r.Distribution, r.DistroVersion, r.KernelVersion))
				continue
			}
			seen[key] = i
		}
	}
	return errors.Join(errs...)
}

// noDuplicateKeys walks one JSON value and reports a key that appears twice
// in one object.
func noDuplicateKeys(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if seen[key] {
				if path == "" {
					return fmt.Errorf("%q is listed twice; each architecture is one list", key)
				}
				return fmt.Errorf("%s: key %q appears twice", path, key)
			}
			seen[key] = true
			if err := noDuplicateKeys(dec, strings.TrimPrefix(path+"."+key, ".")); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := noDuplicateKeys(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// EntryOf is the kernels.json entry of a build request: the architecture
// it is listed under and the entry, naming its distro version.
func EntryOf(r kernel.Request) (arch string, e KernelEntry) {
	return r.Architecture, KernelEntry{Target: r.Distribution, KernelRelease: r.KernelVersion, DistroVersion: r.DistroVersion}
}

// Lists reports whether k already lists the kernel r is for, whatever the
// driver version: an entry that derives the same distribution, distro
// version and release, so that adding r's entry would be a duplicate.
func (k Kernels) Lists(cat *kernel.Catalog, r kernel.Request) bool {
	const anyVersion = "v0.0.0"
	r.DriverVersion = anyVersion
	want := r.CacheKey()
	for _, e := range k[r.Architecture] {
		got, s := derive(cat, Entry{Arch: r.Architecture, Target: e.Target, KernelRelease: e.KernelRelease, DistroVersion: e.DistroVersion}, anyVersion)
		if s == nil && got.CacheKey() == want {
			return true
		}
	}
	return false
}

// MergeKernels is the semantic merge of kernels.json: it parses data, adds
// the entry of every request not yet listed, and writes the file as it is
// committed. added lists the requests whose entries it added; when none
// was, out is nil.
func MergeKernels(cat *kernel.Catalog, data []byte, reqs []kernel.Request) (out []byte, added []kernel.Request, err error) {
	k, err := ParseKernels(data)
	if err != nil {
		return nil, nil, err
	}
	// Add's binary search needs sorted lists: a file someone pushed
	// unsorted is put in order rather than given an entry in a wrong place.
	for _, list := range k {
		slices.SortFunc(list, compareEntries)
	}
	for _, r := range reqs {
		if k.Lists(cat, r) {
			continue
		}
		arch, e := EntryOf(r)
		if k.Add(arch, e) {
			added = append(added, r)
		}
	}
	if len(added) == 0 {
		return nil, nil, nil
	}
	out, err = k.Marshal()
	if err != nil {
		return nil, nil, err
	}
	return out, added, nil
}
