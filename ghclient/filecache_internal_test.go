package ghclient

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The files kept are bounded by their bytes: past the bound, the one
// read the longest ago goes.
func TestFileCacheIsBoundedByBytes(t *testing.T) {
	t.Parallel()
	var c fileCache
	file := make([]byte, cachedFileBytes/4)
	key := func(i int) fileKey { return fileKey{fmt.Sprintf("%040x", i), ".github/kernels.json"} }
	for i := range 4 {
		c.add(key(i), fileAt{content: file})
	}
	_, ok := c.get(key(0)) // read lately: kept over key(1)
	require.True(t, ok)
	c.add(key(4), fileAt{content: file})
	require.LessOrEqual(t, c.bytes, cachedFileBytes)
	_, ok = c.get(key(1))
	require.False(t, ok, "the one read the longest ago went")
	for _, i := range []int{0, 2, 3, 4} {
		_, ok := c.get(key(i))
		require.True(t, ok, "file %d", i)
	}
	c.add(key(5), fileAt{content: make([]byte, cachedFileBytes+1)})
	_, ok = c.get(key(5))
	require.False(t, ok, "a file past the bound alone is not kept")
	require.Equal(t, 4*len(file), c.bytes)
}
