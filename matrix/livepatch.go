package matrix

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/kernel"
)

// LivepatchTarget is the target livepatch kernels are listed under.
const LivepatchTarget = "amazonlinux2023"

// Livepatch lists the kernels the Amazon Linux 2023 kernel-livepatch
// repository at repo (a base URL, a mirror.list URL or a directory) ships
// livepatches for: every kernel-livepatch-* package in its primary metadata
// (repodata/repomd.xml -> primary.xml.{gz,zst,xz,bz2}). A livepatch package
// whose name does not say its kernel is skipped with the reason.
func Livepatch(ctx context.Context, repo string) ([]Entry, []Skipped, error) {
	base, err := repoBase(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	href, sum, err := primaryLocation(ctx, join(base, "repodata/repomd.xml"))
	if err != nil {
		return nil, nil, err
	}
	primary := join(base, href)
	rc, err := Open(ctx, primary)
	if err != nil {
		return nil, nil, fmt.Errorf("livepatch primary metadata: %w", err)
	}
	defer rc.Close()
	var h hash.Hash
	var body io.Reader = rc
	if sum != "" {
		h = sha256.New()
		body = io.TeeReader(rc, h)
	}
	pkgs, err := livepatchPackages(primary, body)
	if err != nil {
		return nil, nil, fmt.Errorf("livepatch primary metadata %s: %w", primary, err)
	}
	if h != nil {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, nil, fmt.Errorf("livepatch primary metadata %s: %w", primary, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			return nil, nil, fmt.Errorf("livepatch primary metadata %s: sha256 is %s, repomd.xml says %s", primary, got, sum)
		}
	}
	var (
		entries []Entry
		skipped []Skipped
	)
	for _, p := range pkgs {
		nvr := p.Name + "-" + p.Version.Ver + "-" + p.Version.Rel
		release, ok := kernel.LivepatchRelease(nvr, p.Arch)
		if !ok {
			skipped = append(skipped, Skipped{KernelRelease: nvr + "." + p.Arch, Target: LivepatchTarget,
				Reason: "livepatch package does not name its kernel as kernel-livepatch-<version>-<release> with version-release <v>-<n>.amzn2023 on x86_64 or aarch64"})
			continue
		}
		entries = append(entries, Entry{Arch: p.Arch, Target: LivepatchTarget, KernelRelease: release, Input: nvr + "." + p.Arch})
	}
	return entries, skipped, nil
}

// repoBase resolves a mirror.list URL to the first mirror it lists.
func repoBase(ctx context.Context, repo string) (string, error) {
	if !isURL(repo) || !strings.HasSuffix(repo, "/mirror.list") {
		return repo, nil
	}
	rc, err := Open(ctx, repo)
	if err != nil {
		return "", fmt.Errorf("livepatch mirror list: %w", err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); isURL(line) {
			return line, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("livepatch mirror list %s: %w", repo, err)
	}
	return "", fmt.Errorf("livepatch mirror list %s lists no http(s) mirror", repo)
}

func join(base, rel string) string {
	if isURL(base) {
		return strings.TrimSuffix(base, "/") + "/" + rel
	}
	return filepath.Join(base, filepath.FromSlash(rel))
}

func primaryLocation(ctx context.Context, repomd string) (href, sha256sum string, err error) {
	rc, err := Open(ctx, repomd)
	if err != nil {
		return "", "", fmt.Errorf("livepatch repository metadata: %w", err)
	}
	defer rc.Close()
	var md struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Checksum struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"checksum"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
		} `xml:"data"`
	}
	if err := xml.NewDecoder(rc).Decode(&md); err != nil {
		return "", "", fmt.Errorf("livepatch repository metadata %s: %w", repomd, err)
	}
	for _, d := range md.Data {
		if d.Type != "primary" {
			continue
		}
		if d.Location.Href == "" || path.IsAbs(d.Location.Href) || strings.Contains(d.Location.Href, "..") {
			return "", "", fmt.Errorf("livepatch repository metadata %s: primary location %q is not a relative path in the repository", repomd, d.Location.Href)
		}
		if d.Checksum.Type == "sha256" {
			sha256sum = strings.TrimSpace(d.Checksum.Value)
		}
		return d.Location.Href, sha256sum, nil
	}
	return "", "", fmt.Errorf("livepatch repository metadata %s has no primary data", repomd)
}

type rpmPackage struct {
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Ver string `xml:"ver,attr"`
		Rel string `xml:"rel,attr"`
	} `xml:"version"`
}

// livepatchPackages streams primary metadata and keeps the kernel-livepatch
// packages of a kernel architecture.
func livepatchPackages(name string, r io.Reader) ([]rpmPackage, error) {
	rc, err := decompress(name, r)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	var out []rpmPackage
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "package" {
			continue
		}
		var p rpmPackage
		if err := dec.DecodeElement(&p, &se); err != nil {
			return nil, err
		}
		if strings.HasPrefix(p.Name, "kernel-livepatch-") && (p.Arch == kernel.ArchX86_64 || p.Arch == kernel.ArchAarch64) {
			out = append(out, p)
		}
	}
}

func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	switch path.Ext(name) {
	case ".gz":
		return gzip.NewReader(r)
	case ".zst":
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case ".xz":
		x, err := xz.NewReader(r)
		return io.NopCloser(x), err
	case ".bz2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case ".xml":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression %q: accepted are .xml, .gz, .zst, .xz, .bz2", path.Ext(name))
}
