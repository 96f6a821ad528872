package fetch_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader/fetch"
)

func TestOpenCache(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	root, err := fetch.OpenCache(dir)
	require.NoError(t, err)
	require.NoError(t, root.Close())
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "made for root alone")

	for _, mode := range []os.FileMode{0o775, 0o757, 0o777} {
		require.NoError(t, os.Chmod(dir, mode))
		_, err := fetch.OpenCache(dir)
		require.ErrorIs(t, err, fetch.ErrUnsafeCache, "%04o", mode)
		require.ErrorContains(t, err, "writable by its group or others")
	}
	require.NoError(t, os.Chmod(dir, 0o755))
	_, err = fetch.OpenCache(dir)
	require.NoError(t, err, "others may read it")

	if os.Geteuid() != 0 {
		return
	}
	require.NoError(t, os.Chown(dir, 1000, 1000))
	_, err = fetch.OpenCache(dir)
	require.ErrorIs(t, err, fetch.ErrUnsafeCache)
	require.ErrorContains(t, err, "owned by uid 1000, not root")
}

// cachedPackage fetches the package into a fresh cache and returns the
// fetcher and the package's path in it.
func cachedPackage(t *testing.T) (*fetch.Fetcher, string) {
	t.Helper()
	_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	f := fetcher(t, src)
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.NoError(t, res.File.Close())
	return f, res.Path
}

func TestCachedRefusesSymlinks(t *testing.T) {
	t.Parallel()
	for name, swap := range map[string]func(t *testing.T, file string){
		"the package": func(t *testing.T, file string) {
			elsewhere := filepath.Join(t.TempDir(), "pkg")
			require.NoError(t, os.Rename(file, elsewhere))
			require.NoError(t, os.Symlink(elsewhere, file))
		},
		"its digest": func(t *testing.T, file string) {
			elsewhere := filepath.Join(t.TempDir(), "sum")
			require.NoError(t, os.Rename(file+".sha256", elsewhere))
			require.NoError(t, os.Symlink(elsewhere, file+".sha256"))
		},
		"the version dir": func(t *testing.T, file string) {
			dir := filepath.Dir(file)
			elsewhere := filepath.Join(t.TempDir(), "v")
			require.NoError(t, os.Rename(dir, elsewhere))
			require.NoError(t, os.Symlink(elsewhere, dir))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, file := cachedPackage(t)
			swap(t, file)
			_, ok, err := f.Cached(dv, pkg)
			require.ErrorIs(t, err, fetch.ErrUnsafeCache)
			require.ErrorContains(t, err, "symlink")
			require.False(t, ok)
		})
	}
}

// TestCachedFileIsTheVerifiedOne: what the caller reads is the file that
// was hashed, whatever happens to the path afterwards.
func TestCachedFileIsTheVerifiedOne(t *testing.T) {
	t.Parallel()
	f, file := cachedPackage(t)
	res, ok, err := f.Cached(dv, pkg)
	require.NoError(t, err)
	require.True(t, ok)
	defer res.File.Close()

	other := file + ".other"
	require.NoError(t, os.WriteFile(other, []byte("not what was verified"), 0o600))
	require.NoError(t, os.Rename(other, file))
	got, err := io.ReadAll(res.File)
	require.NoError(t, err)
	require.Equal(t, body, got)
}

func TestFetchReturnsTheVerifiedFile(t *testing.T) {
	t.Parallel()
	_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	f := fetcher(t, src)
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	defer res.File.Close()
	require.NoError(t, os.Remove(res.Path))
	got, err := io.ReadAll(res.File)
	require.NoError(t, err)
	require.Equal(t, body, got)
	fi, err := os.Stat(filepath.Dir(res.Path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}
