package fetch

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// ErrUnsafeCache is a cache dir or entry someone else could have written:
// what comes from the cache is loaded into the kernel.
var ErrUnsafeCache = errors.New("unsafe cache")

// OpenCache opens the cache dir, making it (0700) when it is missing. A
// dir its group or others may write to, or (for root) one root does not
// own, is refused.
func OpenCache(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	fi, err := root.Stat(".") // the dir opened, not the path again
	if err == nil {
		err = safeOwner(fi)
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("cache dir %s: %w", dir, err)
	}
	return root, nil
}

func safeOwner(fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: writable by its group or others (mode %04o); make it 0700 or 0755", ErrUnsafeCache, perm)
	}
	return ownedByUs(fi)
}

// versionDir makes (0700) or opens the dir of one driver version, which
// must be a dir, not a symlink.
func versionDir(root *os.Root, driverVersion string, create bool) error {
	if create {
		if err := root.Mkdir(driverVersion, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cache: %w", err)
		}
	}
	fi, err := root.Lstat(driverVersion)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is a %s, not a dir", ErrUnsafeCache, driverVersion, kind(fi))
	}
	return safeOwner(fi)
}

// openRegular opens a cache entry that is a regular file, not a link to
// one: the file opened is the one looked at.
func openRegular(root *os.Root, name string) (*os.File, error) {
	lfi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s, not a file", ErrUnsafeCache, name, kind(lfi))
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(lfi, fi) {
		err = fmt.Errorf("%w: %s changed while it was opened", ErrUnsafeCache, name)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func kind(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	case fi.IsDir():
		return "dir"
	case fi.Mode().IsRegular():
		return "file"
	}
	return "special file"
}

// hashFile hashes an open file from its start and leaves it at its start,
// for the caller to read the same bytes it verified.
func hashFile(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic writes a cache file under a temporary name and renames it.
func writeAtomic(root *os.Root, name string, data []byte) error {
	tmp, tmpName, err := createTemp(root, path.Dir(name))
	if err != nil {
		return err
	}
	defer root.Remove(tmpName) // fails once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return root.Rename(tmpName, name)
}

// createTemp creates a new file, 0600, in dir under root.
func createTemp(root *os.Root, dir string) (*os.File, string, error) {
	for range 10 {
		name := path.Join(dir, ".partial-"+rand.Text())
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cache: no free temporary name")
}
