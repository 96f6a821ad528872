package matrix

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/riptides/driverbuild/kernel"
)

// crawlerEntry is the part of a kernel-crawler entry we read. The
// kernelversion (an integer in the old format, a string in the current one)
// and the kernel configuration are not needed.
type crawlerEntry struct {
	KernelRelease string   `json:"kernelrelease"`
	Target        string   `json:"target"`
	Headers       []string `json:"headers"`
}

// ParseCrawler reads a Falco kernel-crawler list.json, either format: the
// old one keyed by display name (AmazonLinux2, CentOS, Ubuntu) or the
// current one keyed by driverkit target (amazonlinux2023, ubuntu). It
// streams, so the large kernel configurations in current lists are never
// held at once.
//
// Ubuntu and Debian entries become the kernel releases their
// linux-headers packages name, since the crawler's kernelrelease is not what
// uname -r prints there (4.18.0-13-hwe is 4.18.0-13-generic,
// 5.18.14-1~bpo11+1-amd64 is 5.18.0-0.deb11.3-amd64 and its other flavours).
// An entry's architecture is what its release or header package says, or
// else defaultArch.
func ParseCrawler(r io.Reader, defaultArch string) ([]Entry, []Skipped, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var (
		entries []Entry
		skipped []Skipped
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("kernel-crawler list: %w", err)
		}
		key, _ := tok.(string)
		if err := expectDelim(dec, '['); err != nil {
			return nil, nil, fmt.Errorf("kernel-crawler list, %q: %w", key, err)
		}
		for dec.More() {
			var ce crawlerEntry
			if err := dec.Decode(&ce); err != nil {
				return nil, nil, fmt.Errorf("kernel-crawler list, %q: %w", key, err)
			}
			if ce.Target == "" {
				ce.Target = strings.ToLower(key)
			}
			es, s := crawlerEntries(ce, defaultArch)
			entries = append(entries, es...)
			if s != nil {
				skipped = append(skipped, *s)
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return nil, nil, fmt.Errorf("kernel-crawler list, %q: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	return entries, skipped, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("kernel-crawler list: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("kernel-crawler list: want %q, found %v; the format is {\"<target>\": [{\"kernelrelease\":..., \"target\":..., \"headers\":[...]}, ...], ...}", want, tok)
	}
	return nil
}

func crawlerEntries(ce crawlerEntry, defaultArch string) ([]Entry, *Skipped) {
	// Only Debian's packaging names headers packages by the release.
	family, _ := SplitTarget(ce.Target)
	if f, _ := kernel.KnownFormat(family); f != kernel.FormatDeb {
		return []Entry{{Arch: rpmArch(ce.KernelRelease, defaultArch), Target: ce.Target, KernelRelease: ce.KernelRelease}}, nil
	}
	var hs []kernel.HeaderPackage
	for _, u := range ce.Headers {
		h, ok := kernel.ParseHeaderURL(u)
		if !ok || slices.ContainsFunc(hs, func(o kernel.HeaderPackage) bool { return o.Release == h.Release }) {
			continue
		}
		if h.Release == ce.KernelRelease {
			hs = []kernel.HeaderPackage{h}
			break
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 {
		s := skip(Entry{Target: ce.Target, KernelRelease: ce.KernelRelease}, "no linux-headers-<release>_<version>_<arch>.deb among its headers names the release uname -r prints")
		return nil, &s
	}
	slices.SortFunc(hs, func(a, b kernel.HeaderPackage) int { return strings.Compare(a.Release, b.Release) })
	out := make([]Entry, 0, len(hs))
	for _, h := range hs {
		arch, err := kernel.NormalizeArch(h.Arch)
		if err != nil {
			arch = h.Arch // Normalize refuses it, with a reason
		}
		out = append(out, Entry{
			Arch: arch, Target: ce.Target, KernelRelease: h.Release,
			PackageVersion: h.Version, Source: h.Source, Input: ce.KernelRelease,
		})
	}
	return out, nil
}

// rpmArch is the architecture a kernel release names, or defaultArch.
func rpmArch(release, defaultArch string) string {
	return cmp.Or(releaseArch(release), defaultArch)
}

// releaseArch is the architecture a release ends in, as RPM kernels
// (.x86_64, .aarch64) and Debian's (-amd64, -cloud-arm64) do, or "".
func releaseArch(release string) string {
	switch {
	case strings.HasSuffix(release, ".x86_64"), strings.HasSuffix(release, "-amd64"):
		return kernel.ArchX86_64
	case strings.HasSuffix(release, ".aarch64"), strings.HasSuffix(release, "-arm64"):
		return kernel.ArchAarch64
	}
	return ""
}
