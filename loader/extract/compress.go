package extract

import (
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// decompress opens a compressed stream: gzip, xz, zstd or none.
func decompress(algo string, r io.Reader) (io.ReadCloser, error) {
	switch algo {
	case "none", "":
		return io.NopCloser(r), nil
	case "gzip":
		return gzip.NewReader(r)
	case "xz":
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	case "zstd":
		// 128 MiB bounds the window a hostile frame can make us allocate.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(128<<20))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("%w: compression %q; accepted are gzip, xz, zstd and none", ErrMalformed, algo)
}
