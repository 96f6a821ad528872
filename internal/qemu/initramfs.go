package qemu

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Initramfs writes an initramfs: a cpio archive in the "newc" format, the
// one the kernel unpacks. Archives may be concatenated; the kernel unpacks
// each in turn over the last, which lets a boot add its own files to a
// shared base.
type Initramfs struct {
	w    io.Writer
	ino  int
	dirs map[string]bool
	err  error
}

// NewInitramfs starts an archive on w.
func NewInitramfs(w io.Writer) *Initramfs {
	return &Initramfs{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

// File adds a regular file, and the directories above it.
func (a *Initramfs) File(name string, mode fs.FileMode, data []byte) error {
	a.parents(name)
	return a.entry(name, 0o100000|uint32(mode.Perm()), data)
}

// Symlink adds a symbolic link, and the directories above it.
func (a *Initramfs) Symlink(name, target string) error {
	a.parents(name)
	return a.entry(name, 0o120000|0o777, []byte(target))
}

// Dir adds a directory, and the directories above it.
func (a *Initramfs) Dir(name string) error {
	name = strings.Trim(path.Clean(name), "/")
	if a.dirs[name] {
		return a.err
	}
	a.parents(name)
	a.dirs[name] = true
	return a.entry(name, 0o040000|0o755, nil)
}

func (a *Initramfs) parents(name string) {
	if dir := path.Dir(strings.Trim(name, "/")); !a.dirs[dir] {
		_ = a.Dir(dir)
	}
}

// Close writes the trailer.
func (a *Initramfs) Close() error {
	a.ino = 0
	return a.entry("TRAILER!!!", 0, nil)
}

func (a *Initramfs) entry(name string, mode uint32, data []byte) error {
	if a.err != nil {
		return a.err
	}
	name = strings.Trim(name, "/")
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	// Owned by root, time 0: an archive of the same files is the same bytes.
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		a.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	a.ino++
	var buf []byte
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = pad(buf, len(buf))
	buf = append(buf, data...)
	buf = pad(buf, len(data))
	_, a.err = a.w.Write(buf)
	return a.err
}

// pad aligns what follows a field of n bytes to 4 bytes, as newc wants.
func pad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}
