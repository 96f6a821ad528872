package extract

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/riptides/driverbuild/loader/internal/decompress"
)

// Deb extracts the modules of a .deb: an ar archive of debian-binary,
// control.tar[.gz|.xz|.zst] and data.tar[.gz|.xz|.zst]. The control
// member's Architecture is checked before any data is written.
func Deb(r io.Reader, dir string, opts Options) (Result, error) {
	s, err := newSink(dir, opts)
	if err != nil {
		return Result{}, err
	}
	defer s.close()

	br := bufio.NewReader(r)
	const arMagic = "!<arch>\n"
	magic := make([]byte, len(arMagic))
	switch n, _ := io.ReadFull(br, magic); {
	case n == 0 || !strings.HasPrefix(arMagic, string(magic[:n])):
		return Result{}, fmt.Errorf("%w: not a .deb (no ar header)", ErrMalformed)
	case n < len(arMagic):
		return Result{}, fmt.Errorf("%w: %d bytes", ErrTruncated, n)
	}
	var res Result
	var sawBinary, sawControl, sawData bool
	for {
		name, size, err := arHeader(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return Result{}, err
		}
		body := &exact{r: br, n: size}
		base, algo, err := tarMember(name)
		if err != nil {
			return Result{}, err
		}
		switch {
		case name == "debian-binary" && size > maxDebianBinary:
			return Result{}, fmt.Errorf("%w: debian-binary is %d bytes; it holds the format version, \"2.0\\n\"", ErrTooLarge, size)
		case name == "debian-binary":
			b, err := io.ReadAll(io.LimitReader(body, maxDebianBinary))
			if err != nil || !bytes.HasPrefix(b, []byte("2.")) {
				return Result{}, fmt.Errorf("%w: debian-binary is %q, want 2.x", ErrMalformed, b)
			}
			sawBinary = true
		case base == "control.tar":
			if res.Arch, err = debArch(algo, body); err != nil {
				return Result{}, err
			}
			if err := checkArch(res.Arch, opts.Arch); err != nil {
				return Result{}, err
			}
			sawControl = true
		case base == "data.tar":
			if !sawControl {
				return Result{}, fmt.Errorf("%w: data.tar comes before control.tar", ErrMalformed)
			}
			if err := debData(s, algo, body); err != nil {
				return Result{}, err
			}
			sawData = true
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return Result{}, archiveErr("ar member "+name, err)
		}
		if size%2 == 1 { // members are 2-byte aligned
			if _, err := br.ReadByte(); err != nil && err != io.EOF {
				return Result{}, archiveErr("ar padding", err)
			}
		}
	}
	if !sawBinary || !sawControl || !sawData {
		return Result{}, fmt.Errorf("%w: a .deb needs debian-binary, control.tar and data.tar", ErrTruncated)
	}
	res.Modules = s.modules
	return res, nil
}

// arHeader reads one 60-byte member header; io.EOF means a clean end.
func arHeader(r io.Reader) (name string, size int64, err error) {
	h := make([]byte, 60)
	n, err := io.ReadFull(r, h)
	switch {
	case n == 0 && err == io.EOF:
		return "", 0, io.EOF
	case err != nil:
		return "", 0, fmt.Errorf("%w: ar member header", ErrTruncated)
	case string(h[58:60]) != "`\n":
		return "", 0, fmt.Errorf("%w: bad ar member header", ErrMalformed)
	}
	name = strings.TrimSuffix(strings.TrimSpace(string(h[0:16])), "/")
	size, err = strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("%w: ar member %q has size %q", ErrMalformed, name, h[48:58])
	}
	return name, size, nil
}

// tarMember splits control.tar.xz into control.tar and xz. A control or
// data member compressed otherwise is refused by name: read as missing,
// it would pass for a truncated package.
func tarMember(name string) (base, algo string, err error) {
	for _, b := range []string{"control.tar", "data.tar"} {
		ext, ok := strings.CutPrefix(name, b)
		if !ok {
			continue
		}
		if algo, ok := map[string]string{"": "none", ".gz": "gzip", ".xz": "xz", ".zst": "zstd"}[ext]; ok {
			return b, algo, nil
		}
		return "", "", fmt.Errorf("%w: %s has unsupported compression %q; accepted are .gz, .xz, .zst and none", ErrMalformed, name, strings.TrimPrefix(ext, "."))
	}
	return name, "none", nil
}

// maxDebianBinary bounds the debian-binary member, "2.0\n" in every .deb.
const maxDebianBinary = 16

// maxControl bounds the control file, which is a few hundred bytes.
const maxControl = 1 << 20

// debArch finds Architecture in the control member's control file.
func debArch(algo string, r io.Reader) (string, error) {
	dr, err := decompress.Reader(algo, r)
	if err != nil {
		return "", archiveErr("control.tar", err)
	}
	defer dr.Close()
	tr := tar.NewReader(&capped{r: dr, max: 16 * maxControl})
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%w: control.tar has no control file", ErrMalformed)
		}
		if err != nil {
			return "", archiveErr("control.tar", err)
		}
		if strings.TrimPrefix(h.Name, "./") != "control" {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxControl))
		if err != nil {
			return "", archiveErr("control", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Architecture:"); ok {
				return strings.TrimSpace(v), nil
			}
		}
		return "", fmt.Errorf("%w: control has no Architecture", ErrMalformed)
	}
}

func debData(s *sink, algo string, r io.Reader) error {
	dr, err := decompress.Reader(algo, r)
	if err != nil {
		return archiveErr("data.tar", err)
	}
	defer dr.Close()
	payload := &capped{r: dr, max: s.limits.MaxTotalSize}
	tr := tar.NewReader(payload)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return drain("data.tar", payload)
		}
		if err != nil {
			return archiveErr("data.tar", err)
		}
		e := entry{name: h.Name, linkname: h.Linkname, size: h.Size}
		switch {
		case sparse(h):
			// A sparse entry expands holes into zeros the payload does not
			// hold: its size is not bounded by what was decompressed.
			return fmt.Errorf("%w: %q is a sparse file; packages hold plain files", ErrSpecialFile, h.Name)
		case h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA:
			e.kind = kindRegular
		case h.Typeflag == tar.TypeDir:
			e.kind = kindDir
		case h.Typeflag == tar.TypeSymlink:
			e.kind = kindSymlink
		case h.Typeflag == tar.TypeLink:
			e.kind = kindHardlink
		case h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock || h.Typeflag == tar.TypeFifo:
			e.kind = kindSpecial
		default:
			return fmt.Errorf("%w: entry %q has tar type %q", ErrMalformed, h.Name, h.Typeflag)
		}
		if err := s.add(e, tr); err != nil {
			return err
		}
	}
}

// sparse reports a GNU sparse entry: the old GNU type, or PAX records of
// any GNU sparse format version.
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
