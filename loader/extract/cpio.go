package extract

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// cpioEntries reads a SVR4 "newc" cpio archive (magic 070701, or 070702
// with checksums) as rpm payloads are, handing each entry to s.
func cpioEntries(s *sink, r io.Reader) error {
	const hdrLen = 110
	h := make([]byte, hdrLen)
	for {
		if _, err := io.ReadFull(r, h); err != nil {
			return archiveErr("cpio header (no trailer)", err)
		}
		if m := string(h[:6]); m != "070701" && m != "070702" {
			return fmt.Errorf("%w: cpio magic %q, want 070701 (newc)", ErrMalformed, m)
		}
		var f [13]int64 // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return fmt.Errorf("%w: cpio header field %q", ErrMalformed, h[6+8*i:14+8*i])
			}
			f[i] = int64(v)
		}
		mode, nlink, size, namesize := f[1], f[4], f[6], f[11]
		if namesize < 1 || namesize > 4096 {
			return fmt.Errorf("%w: cpio name of %d bytes", ErrMalformed, namesize)
		}
		nb := make([]byte, namesize+pad4(hdrLen+namesize))
		if _, err := io.ReadFull(r, nb); err != nil {
			return archiveErr("cpio name", err)
		}
		name := string(nb[:namesize-1]) // drop the NUL
		if name == "TRAILER!!!" {
			return nil
		}

		// rpm installs payload names under the root whatever their spelling:
		// rpmbuild writes ./usr/x, nfpm's rpmpack /usr/x. Both land inside
		// the work dir; .. is still refused.
		e := entry{name: strings.TrimPrefix(name, "/"), size: size}
		data := &exact{r: r, n: size}
		switch mode & 0o170000 {
		case 0o100000:
			e.kind = kindRegular
			// cpio stores the data of hard-linked files with the last link
			// only; the others are empty.
			if nlink > 1 && IsModule(e.name) {
				return fmt.Errorf("%w: module %q is hard-linked (%d links); modules must be plain files", ErrMalformed, name, nlink)
			}
		case 0o040000:
			e.kind = kindDir
		case 0o120000:
			e.kind = kindSymlink
			if size > 4096 {
				return fmt.Errorf("%w: symlink %q target of %d bytes", ErrMalformed, name, size)
			}
			target, err := io.ReadAll(data)
			if err != nil {
				return archiveErr("cpio symlink "+name, err)
			}
			e.linkname = string(target)
		default:
			e.kind = kindSpecial
		}
		if err := s.add(e, data); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, data); err != nil {
			return archiveErr("cpio entry "+name, err)
		}
		if _, err := io.CopyN(io.Discard, r, pad4(size)); err != nil {
			return archiveErr("cpio padding", err)
		}
	}
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }
