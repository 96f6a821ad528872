// Package decompress opens the compressed streams of driver packages and
// kernel modules (gzip, xz, zstd) for the extractor and the module reader
// alike, bounding the memory a hostile stream can make a decoder take.
package decompress

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// MaxWindow bounds a decoder's window (zstd) or dictionary (xz): xz -9
// and zstd -19 stay well below it, and every decoder of a run together
// still fits the DaemonSet's memory limit.
const MaxWindow = 64 << 20

var (
	// ErrUnsupported is a compression other than gzip, xz, zstd or none.
	ErrUnsupported = errors.New("unsupported compression")
	// ErrWindow is a stream that asks for more decoder memory than MaxWindow.
	ErrWindow = errors.New("compression window over the limit")
)

// Accepted names the algorithms Reader takes, for messages.
const Accepted = "gzip, xz, zstd and none"

// Reader decompresses r with algo: gzip, xz, zstd, or none (or "") for
// an uncompressed stream. An oversized window surfaces as ErrWindow from
// NewReader or Read.
func Reader(algo string, r io.Reader) (io.ReadCloser, error) {
	switch algo {
	case "none", "":
		return io.NopCloser(r), nil
	case "gzip":
		return gzip.NewReader(r)
	case "xz":
		// The library allocates whatever dictionary a block header names
		// (up to 4 GiB); the guard refuses larger ones before it sees them.
		xr, err := xz.NewReader(&xzGuard{r: r, max: MaxWindow})
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxWindow), zstd.WithDecoderMaxWindow(MaxWindow))
		if err != nil {
			return nil, err
		}
		return &zstdReader{zr}, nil
	}
	return nil, fmt.Errorf("%w %q; accepted are %s", ErrUnsupported, algo, Accepted)
}

// ByExt is the algorithm a file name's extension implies: .gz, .xz, .zst,
// or none for anything else.
func ByExt(name string) string {
	for ext, algo := range map[string]string{".gz": "gzip", ".xz": "xz", ".zst": "zstd"} {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			return algo
		}
	}
	return "none"
}

// zstdReader reports an oversized window as ErrWindow.
type zstdReader struct{ d *zstd.Decoder }

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = fmt.Errorf("%w: %v", ErrWindow, err)
	}
	return n, err
}

func (z *zstdReader) Close() error { z.d.Close(); return nil }
