package qemu_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/qemu"
)

// entry is one member of a newc archive, read as the kernel's
// init/initramfs.c reads it.
type entry struct {
	name string
	mode uint64
	data string
}

func readNewc(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	for off := 0; ; {
		require.Zero(t, off%4, "every header starts 4-byte aligned")
		require.GreaterOrEqual(t, len(b)-off, 110)
		h := b[off : off+110]
		require.Equal(t, "070701", string(h[:6]))
		field := func(i int) int {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			require.NoError(t, err)
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := b[off+110 : off+110+namesize]
		require.Equal(t, byte(0), name[namesize-1], "names end in NUL")
		off = align(off + 110 + namesize)
		e := entry{name: string(name[:namesize-1]), mode: uint64(mode), data: string(b[off : off+size])}
		off = align(off + size)
		if e.name == "TRAILER!!!" {
			require.Equal(t, len(b), off, "nothing after the trailer")
			return out
		}
		out = append(out, e)
	}
}

func align(n int) int { return (n + 3) &^ 3 }

func TestInitramfs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := qemu.NewInitramfs(&buf)
	require.NoError(t, a.File("/etc/e2e/modules", 0o644, []byte("/lib/e2e/e1000.ko\n")))
	require.NoError(t, a.File("init", 0o755, []byte("#!/bin/sh\n")))
	require.NoError(t, a.Symlink("bin/sh", "busybox"))
	require.NoError(t, a.Dir("etc/e2e/"))
	require.NoError(t, a.Close())

	require.Equal(t, []entry{
		{"etc", 0o40755, ""},
		{"etc/e2e", 0o40755, ""},
		{"etc/e2e/modules", 0o100644, "/lib/e2e/e1000.ko\n"},
		{"init", 0o100755, "#!/bin/sh\n"},
		{"bin", 0o40755, ""},
		{"bin/sh", 0o120777, "busybox"},
	}, readNewc(t, buf.Bytes()), "parents first, each once, modes and contents as given")
}
