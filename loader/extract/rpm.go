package extract

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/riptides/driverbuild/loader/internal/decompress"
)

// RPM header tags the extractor reads.
const (
	tagArch              = 1022
	tagPayloadFormat     = 1124
	tagPayloadCompressor = 1125
)

// maxRPMHeader bounds a header's index and store; rpm itself allows 256
// MiB, which a driver package never comes near.
const maxRPMHeader = 32 << 20

// RPM extracts the modules of an .rpm: a lead, a signature header, the
// main header (whose architecture is checked first) and a compressed cpio
// payload. Digests inside the package are not checked: the package as a
// whole was verified against its sha256 before it got here.
func RPM(r io.Reader, dir string, opts Options) (Result, error) {
	s, err := newSink(dir, opts)
	if err != nil {
		return Result{}, err
	}
	defer s.close()
	br := bufio.NewReader(r)

	lead := make([]byte, 96)
	n, err := io.ReadFull(br, lead)
	if n < 4 || !bytes.Equal(lead[:4], []byte{0xed, 0xab, 0xee, 0xdb}) {
		return Result{}, fmt.Errorf("%w: not an .rpm (no lead)", ErrMalformed)
	}
	if err != nil {
		return Result{}, archiveErr("rpm lead", err)
	}
	sig, err := rpmHeader(br)
	if err != nil {
		return Result{}, fmt.Errorf("signature header: %w", err)
	}
	if _, err := io.CopyN(io.Discard, br, int64(sig.padding())); err != nil {
		return Result{}, archiveErr("signature padding", err)
	}
	h, err := rpmHeader(br)
	if err != nil {
		return Result{}, fmt.Errorf("header: %w", err)
	}

	arch := h.str(tagArch)
	if err := checkArch(arch, opts.Arch); err != nil {
		return Result{}, err
	}
	if f := h.str(tagPayloadFormat); f != "" && f != "cpio" {
		return Result{}, fmt.Errorf("%w: payload format %q, want cpio", ErrMalformed, f)
	}
	algo := h.str(tagPayloadCompressor)
	if algo == "" {
		algo = "gzip" // rpm's default when the tag is absent
	}
	if algo != "gzip" && algo != "xz" && algo != "zstd" {
		return Result{}, fmt.Errorf("%w: payload compression %q is unsupported; accepted are gzip, xz and zstd", ErrMalformed, algo)
	}
	pr, err := decompress.Reader(algo, br)
	if err != nil {
		return Result{}, archiveErr("payload", err)
	}
	defer pr.Close()
	payload := &capped{r: pr, max: s.limits.MaxTotalSize}
	if err := cpioEntries(s, payload); err != nil {
		return Result{}, err
	}
	if err := drain("payload", payload); err != nil {
		return Result{}, err
	}
	return Result{Modules: s.modules, Arch: arch}, nil
}

type header struct {
	index []byte // 16 bytes an entry: tag, type, offset, count
	store []byte
}

func rpmHeader(r io.Reader) (header, error) {
	intro := make([]byte, 16)
	if _, err := io.ReadFull(r, intro); err != nil {
		return header{}, archiveErr("rpm header", err)
	}
	if !bytes.Equal(intro[:4], []byte{0x8e, 0xad, 0xe8, 0x01}) {
		return header{}, fmt.Errorf("%w: bad rpm header magic", ErrMalformed)
	}
	n := int64(binary.BigEndian.Uint32(intro[8:12]))
	size := int64(binary.BigEndian.Uint32(intro[12:16]))
	if n*16+size > maxRPMHeader {
		return header{}, fmt.Errorf("%w: rpm header of %d entries and %d bytes", ErrTooLarge, n, size)
	}
	h := header{index: make([]byte, n*16), store: make([]byte, size)}
	if _, err := io.ReadFull(r, h.index); err != nil {
		return header{}, archiveErr("rpm header index", err)
	}
	if _, err := io.ReadFull(r, h.store); err != nil {
		return header{}, archiveErr("rpm header store", err)
	}
	return h, nil
}

// padding aligns what follows the signature header to 8 bytes.
func (h header) padding() int { return (8 - len(h.store)%8) % 8 }

// str returns a STRING (6) or first I18NSTRING (9) tag, or "".
func (h header) str(tag uint32) string {
	for i := 0; i+16 <= len(h.index); i += 16 {
		e := h.index[i : i+16]
		if binary.BigEndian.Uint32(e[0:4]) != tag {
			continue
		}
		typ, off := binary.BigEndian.Uint32(e[4:8]), binary.BigEndian.Uint32(e[8:12])
		if (typ != 6 && typ != 9) || int64(off) >= int64(len(h.store)) {
			return ""
		}
		s, _, _ := bytes.Cut(h.store[off:], []byte{0})
		return string(s)
	}
	return ""
}
