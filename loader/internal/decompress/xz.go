package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// xzGuard passes an xz file through unchanged while it follows the file's
// structure (stream header, block headers, LZMA2 chunks, index, footer,
// stream padding) and fails before a block header that names a dictionary
// larger than max reaches the decoder. It checks only what it needs to
// find the next block header; the decoder checks the rest.
type xzGuard struct {
	r   io.Reader
	max int64
	err error

	state    xzState
	piece    []byte // the bytes of the piece the state reads
	want     int    // the size of that piece
	skip     int64  // bytes to pass before the next piece
	check    int    // the size of the current stream's block checks
	blockLen int64  // bytes of the current block so far
	indexLen int64  // bytes of the current index so far
	varints  uint64 // record varints left in the index
	varint   uint64
	shift    uint
}

type xzState int

const (
	xzStreamStart xzState = iota // stream padding or a stream header
	xzStreamHeader
	xzBlockStart // a block header's size byte, or the index indicator
	xzBlockHeader
	xzChunk // an LZMA2 chunk's control byte
	xzChunkUncompressed
	xzChunkLZMA
	xzIndexCount   // the index's record count
	xzIndexRecords // the index's records, two varints each
)

var errXZ = errors.New("xz: malformed stream")

func (g *xzGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if ferr := g.feed(p[:n]); ferr != nil {
		g.err = ferr
		return 0, ferr
	}
	return n, err
}

func (g *xzGuard) feed(b []byte) error {
	for len(b) > 0 {
		if g.skip > 0 {
			k := min(g.skip, int64(len(b)))
			g.skip -= k
			b = b[k:]
			continue
		}
		if g.want == 0 {
			g.want = 1
		}
		k := min(g.want-len(g.piece), len(b))
		g.piece = append(g.piece, b[:k]...)
		b = b[k:]
		if len(g.piece) < g.want {
			continue
		}
		if err := g.step(); err != nil {
			return err
		}
	}
	return nil
}

// next moves to state, which reads a piece of want bytes; keep leaves the
// bytes read so far in the piece.
func (g *xzGuard) next(state xzState, want int, keep bool) {
	g.state, g.want = state, want
	if !keep {
		g.piece = g.piece[:0]
	}
}

// step handles a complete piece.
func (g *xzGuard) step() error {
	p := g.piece
	switch g.state {
	case xzStreamStart:
		if p[0] == 0 {
			g.next(xzStreamStart, 1, false)
			return nil
		}
		g.next(xzStreamHeader, 12, true)
	case xzStreamHeader:
		if !bytes.Equal(p[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}) || p[6] != 0 || p[7]&0xf0 != 0 {
			return fmt.Errorf("%w: bad stream header", errXZ)
		}
		g.check = checkSize(p[7])
		g.next(xzBlockStart, 1, false)
	case xzBlockStart:
		if p[0] == 0 { // the index indicator
			g.indexLen, g.varint, g.shift = 1, 0, 0
			g.next(xzIndexCount, 1, false)
			return nil
		}
		g.next(xzBlockHeader, (int(p[0])+1)*4, true)
	case xzBlockHeader:
		if err := g.blockHeader(p); err != nil {
			return err
		}
		g.blockLen = int64(len(p))
		g.next(xzChunk, 1, false)
	case xzChunk:
		g.blockLen++
		switch c := p[0]; {
		case c == 0: // the end of the LZMA2 data: block padding, then the check
			g.skip = pad4(g.blockLen) + int64(g.check)
			g.next(xzBlockStart, 1, false)
		case c == 1 || c == 2:
			g.next(xzChunkUncompressed, 3, true)
		case c >= 0x80:
			want := 5
			if c >= 0xc0 { // with a properties byte
				want = 6
			}
			g.next(xzChunkLZMA, want, true)
		default:
			return fmt.Errorf("%w: LZMA2 control byte %#x", errXZ, c)
		}
	case xzChunkUncompressed:
		size := int64(binary.BigEndian.Uint16(p[1:3])) + 1
		g.blockLen += 2 + size
		g.skip = size
		g.next(xzChunk, 1, false)
	case xzChunkLZMA:
		packed := int64(binary.BigEndian.Uint16(p[3:5])) + 1
		g.blockLen += int64(len(p)-1) + packed
		g.skip = packed
		g.next(xzChunk, 1, false)
	case xzIndexCount, xzIndexRecords:
		g.indexLen++
		g.varint |= uint64(p[0]&0x7f) << g.shift
		if p[0]&0x80 != 0 {
			if g.shift += 7; g.shift >= 63 {
				return fmt.Errorf("%w: index varint too long", errXZ)
			}
			g.next(g.state, 1, false)
			return nil
		}
		v := g.varint
		g.varint, g.shift = 0, 0
		if g.state == xzIndexCount {
			if v > 1<<40 {
				return fmt.Errorf("%w: index of %d records", errXZ, v)
			}
			g.varints = 2 * v
		} else {
			g.varints--
		}
		if g.varints > 0 {
			g.next(xzIndexRecords, 1, false)
			return nil
		}
		// index padding, its CRC32, then the stream footer
		g.skip = pad4(g.indexLen) + 4 + 12
		g.next(xzStreamStart, 1, false)
	}
	return nil
}

// blockHeader checks the filter chain of a block header: LZMA2 alone,
// the only chain the decoder supports, with a dictionary of at most max.
func (g *xzGuard) blockHeader(h []byte) error {
	flags := h[1]
	if flags&0x3c != 0 {
		return fmt.Errorf("%w: reserved block header flags", errXZ)
	}
	pos := 2
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(h[pos:])
		if n <= 0 {
			return 0, fmt.Errorf("%w: block header", errXZ)
		}
		pos += n
		return v, nil
	}
	for _, bit := range []byte{0x40, 0x80} { // compressed and uncompressed size
		if flags&bit != 0 {
			if _, err := uvarint(); err != nil {
				return err
			}
		}
	}
	id, err := uvarint()
	if err != nil {
		return err
	}
	size, err := uvarint()
	if err != nil {
		return err
	}
	if flags&3 != 0 || id != 0x21 || size != 1 || pos >= len(h) {
		return fmt.Errorf("%w: xz filter chain of %d filters starting with %#x; accepted is LZMA2 alone", ErrUnsupported, flags&3+1, id)
	}
	dict, err := dictSize(h[pos])
	if err != nil {
		return err
	}
	if dict > g.max {
		return fmt.Errorf("%w: an xz block needs a %d MiB dictionary, at most %d MiB are accepted", ErrWindow, dict>>20, g.max>>20)
	}
	return nil
}

// dictSize decodes LZMA2's dictionary size property.
func dictSize(d byte) (int64, error) {
	switch {
	case d > 40:
		return 0, fmt.Errorf("%w: LZMA2 dictionary size %#x", errXZ, d)
	case d == 40:
		return 1<<32 - 1, nil
	}
	return int64(2|d&1) << (d/2 + 11), nil
}

// checkSize is the size of a block's check for a check type.
func checkSize(t byte) int {
	switch {
	case t == 0:
		return 0
	case t <= 3:
		return 4
	case t <= 6:
		return 8
	case t <= 9:
		return 16
	case t <= 12:
		return 32
	}
	return 64
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }
