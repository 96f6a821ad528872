//go:build unix

package fetch

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ownedByUs refuses, when running as root, a cache dir root does not own:
// its owner could swap what is in it.
func ownedByUs(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && os.Geteuid() == 0 && st.Uid != 0 {
		return fmt.Errorf("%w: owned by uid %d, not root, which runs the loader", ErrUnsafeCache, st.Uid)
	}
	return nil
}
