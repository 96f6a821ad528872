package decompress_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/riptides/driverbuild/loader/internal/decompress"
)

// input mixes what LZMA2 stores uncompressed (random bytes) with what it
// compresses (zeros), so both kinds of chunk occur.
func input(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 300<<10)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return append(b, make([]byte, 300<<10)...)
}

func xzLib(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&buf)
	require.NoError(t, err)
	_, err = w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// xzCLI compresses with xz(1), or skips the test without it.
func xzCLI(t *testing.T, b []byte, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed")
	}
	cmd := exec.Command("xz", append([]string{"-c"}, args...)...)
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

func read(algo string, b []byte) ([]byte, error) {
	r, err := decompress.Reader(algo, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// withDict sets the dictionary size property of an xz stream's first
// block header, which starts right after the 12-byte stream header, and
// the header's CRC32 to match.
func withDict(t *testing.T, stream []byte, prop byte) []byte {
	t.Helper()
	out := bytes.Clone(stream)
	flags, pos := out[13], 14
	for _, bit := range []byte{0x40, 0x80} {
		if flags&bit != 0 {
			_, n := binary.Uvarint(out[pos:])
			pos += n
		}
	}
	require.Equal(t, []byte{0x21, 0x01}, out[pos:pos+2], "an LZMA2 filter")
	out[pos+2] = prop
	size := (int(out[12]) + 1) * 4
	binary.LittleEndian.PutUint32(out[12+size-4:], crc32.ChecksumIEEE(out[12:12+size-4]))
	return out
}

func TestXZ(t *testing.T) {
	t.Parallel()
	in := input(t)
	for name, make := range map[string]func(t *testing.T) []byte{
		"library":      func(t *testing.T) []byte { return xzLib(t, in) },
		"xz default":   func(t *testing.T) []byte { return xzCLI(t, in) },
		"xz -9e":       func(t *testing.T) []byte { return xzCLI(t, in, "-9e") },
		"no check":     func(t *testing.T) []byte { return xzCLI(t, in, "--check=none") },
		"sha256 check": func(t *testing.T) []byte { return xzCLI(t, in, "--check=sha256") },
		"many blocks":  func(t *testing.T) []byte { return xzCLI(t, in, "-T2", "--block-size=64KiB") },
		"two streams with padding": func(t *testing.T) []byte {
			return append(append(xzLib(t, in[:1000]), 0, 0, 0, 0), xzLib(t, in[1000:])...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := read("xz", make(t))
			require.NoError(t, err)
			require.Equal(t, in, got)
		})
	}
}

func TestXZRefusesLargeDictionary(t *testing.T) {
	t.Parallel()
	small := xzLib(t, []byte("hello"))
	for name, stream := range map[string][]byte{
		"128 MiB":                 withDict(t, small, 30),
		"4 GiB":                   withDict(t, small, 40),
		"in the second stream":    append(bytes.Clone(small), withDict(t, small, 36)...),
		"after many LZMA2 chunks": append(xzLib(t, input(t)), withDict(t, small, 36)...),
		"96 MiB":                  withDict(t, small, 29),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := read("xz", stream)
			require.ErrorIs(t, err, decompress.ErrWindow)
		})
	}
	if _, err := exec.LookPath("xz"); err == nil {
		_, err := read("xz", xzCLI(t, []byte("hello"), "--lzma2=dict=128MiB"))
		require.ErrorIs(t, err, decompress.ErrWindow, "as xz(1) writes it")
	}
}

func TestZstdRefusesLargeWindow(t *testing.T) {
	t.Parallel()
	in := input(t)
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(1<<20))
	require.NoError(t, err)
	_, err = w.Write(in)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	frame := buf.Bytes()
	fhd := frame[4]
	require.Zero(t, fhd&0x20, "a frame with a window descriptor (not single segment)")
	got, err := read("zstd", frame)
	require.NoError(t, err)
	require.Equal(t, in, got)

	big := bytes.Clone(frame)
	big[5] = (30 - 10) << 3 // window log 30: 1 GiB
	_, err = read("zstd", big)
	require.ErrorIs(t, err, decompress.ErrWindow)
}

func TestUnsupported(t *testing.T) {
	t.Parallel()
	_, err := decompress.Reader("bzip2", bytes.NewReader(nil))
	require.ErrorIs(t, err, decompress.ErrUnsupported)
	require.ErrorContains(t, err, `"bzip2"; accepted are gzip, xz, zstd and none`)
}

func TestByExt(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"a.ko": "none", "a.ko.xz": "xz", "a.ko.zst": "zstd", "a.ko.gz": "gzip", ".xz": "none"} {
		require.Equal(t, want, decompress.ByExt(name), name)
	}
}
