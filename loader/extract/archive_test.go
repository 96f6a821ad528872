package extract_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
)

// Hand-made archives for the hostile cases: nfpm refuses to build them.

type member struct {
	name     string
	typ      byte // tar type flag
	linkname string
	data     []byte
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func tarball(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.linkname, Mode: 0o644, Size: int64(len(m.data))}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		require.NoError(t, w.WriteHeader(h))
		_, err := w.Write(m.data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func ar(members ...[2][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m[0], 0, 0, 0, "100644", len(m[1]))
		buf.Write(m[1])
		if len(m[1])%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// deb makes a .deb for arch whose data.tar.gz holds ms.
func deb(t *testing.T, arch string, ms []member) []byte {
	t.Helper()
	return debWithData(t, arch, "data.tar.gz", gz(t, tarball(t, ms)))
}

// debWithData makes a .deb for arch with the data member given as is.
func debWithData(t *testing.T, arch, name string, data []byte) []byte {
	t.Helper()
	control := tarball(t, []member{{name: "./control", typ: tar.TypeReg, data: []byte("Package: riptides-driver\nVersion: 0.1.2\nArchitecture: " + arch + "\n")}})
	return ar(
		[2][]byte{[]byte("debian-binary"), []byte("2.0\n")},
		[2][]byte{[]byte("control.tar.gz"), gz(t, control)},
		[2][]byte{[]byte(name), data},
	)
}

// tarBlock is one 512-byte tar header with its checksum: fields maps an
// offset to the bytes written there.
func tarBlock(fields map[int]string) []byte {
	b := make([]byte, 512)
	for off, v := range fields {
		copy(b[off:], v)
	}
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func octal(n int64, width int) string { return fmt.Sprintf("%0*o\x00", width-1, n) }

// padBlock pads b to whole 512-byte blocks.
func padBlock(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

// sparseTar is a tar of one sparse file of realSize bytes whose only data
// is its last byte, in the old GNU format (type 'S', the map in the
// header) or GNU's PAX format 1.0 (GNU.sparse.* records, the map before
// the data). Go's tar.Writer writes neither.
func sparseTar(name string, realSize int64, pax bool) []byte {
	common := map[int]string{100: octal(0o644, 8), 108: octal(0, 8), 116: octal(0, 8), 136: octal(0, 12)}
	with := func(m map[int]string) map[int]string {
		for k, v := range common {
			m[k] = v
		}
		return m
	}
	var out []byte
	if !pax {
		out = append(out, tarBlock(with(map[int]string{
			0: name, 124: octal(1, 12), 156: "S", 257: "ustar  \x00",
			386: octal(realSize-1, 12), 398: octal(1, 12), // one region: the last byte
			483: octal(realSize, 12),
		}))...)
		out = append(out, padBlock([]byte{1})...)
	} else {
		var recs []byte
		for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=" + name, fmt.Sprintf("GNU.sparse.realsize=%d", realSize)} {
			n := len(kv) + 3 // "N kv\n": the length counts its own digits
			for len(fmt.Sprint(n))+len(kv)+2 != n {
				n++
			}
			recs = append(recs, fmt.Sprintf("%d %s\n", n, kv)...)
		}
		out = append(out, tarBlock(with(map[int]string{0: "./PaxHeaders/x", 124: octal(int64(len(recs)), 12), 156: "x", 257: "ustar\x0000"}))...)
		out = append(out, padBlock(recs)...)
		data := append(padBlock([]byte(fmt.Sprintf("1\n%d\n1\n", realSize-1))), 1)
		out = append(out, tarBlock(with(map[int]string{0: "./GNUSparseFile.0/x", 124: octal(int64(len(data)), 12), 156: "0", 257: "ustar\x0000"}))...)
		out = append(out, padBlock(data)...)
	}
	return append(out, make([]byte, 1024)...)
}

// cpioEntry is one newc member; mode carries the file type bits.
type cpioEntry struct {
	name  string
	mode  uint32
	data  []byte
	nlink int // 0 means 1
}

func cpio(entries []cpioEntry) []byte {
	var buf bytes.Buffer
	pad := func() {
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	for i, e := range append(entries, cpioEntry{name: "TRAILER!!!"}) {
		fmt.Fprintf(&buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			i+1, e.mode, 0, 0, max(e.nlink, 1), 0, len(e.data), 0, 0, 0, 0, len(e.name)+1, 0)
		buf.WriteString(e.name)
		buf.WriteByte(0)
		pad()
		buf.Write(e.data)
		pad()
	}
	return buf.Bytes()
}

// rpmWithPayload takes a real gzip .rpm for arch and swaps its payload for
// a gzipped cpio of entries; the extractor checks no internal digests.
func rpmWithPayload(t *testing.T, arch string, entries []cpioEntry) []byte {
	t.Helper()
	pkg := fakedriver.MustPackage(t, fakedriver.Spec{Format: kernel.FormatRPM, KernelRelease: "6.15.5-200.fc42.x86_64", DriverVersion: "v0.1.2", Arch: arch})
	return append(pkg[:rpmPayloadOffset(t, pkg)], gz(t, cpio(entries))...)
}

func rpmPayloadOffset(t *testing.T, pkg []byte) int {
	t.Helper()
	off := 96
	for i := range 2 {
		n := int(binary.BigEndian.Uint32(pkg[off+8:]))
		size := int(binary.BigEndian.Uint32(pkg[off+12:]))
		off += 16 + 16*n + size
		if i == 0 {
			off += (8 - size%8) % 8
		}
	}
	require.Less(t, off, len(pkg))
	return off
}
