package extract

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSinkCountsWhatItWrites: the total is enforced where modules are
// written, whatever an archive reader let through.
func TestSinkCountsWhatItWrites(t *testing.T) {
	t.Parallel()
	s, err := newSink(t.TempDir(), Options{Limits: Limits{MaxEntries: 10, MaxFileSize: 1 << 20, MaxTotalSize: 1 << 20}})
	require.NoError(t, err)
	defer s.close()
	const size = 600 << 10
	require.NoError(t, s.add(entry{name: "a.ko", kind: kindRegular, size: size}, bytes.NewReader(make([]byte, size))))
	err = s.add(entry{name: "b.ko", kind: kindRegular, size: size}, bytes.NewReader(make([]byte, size)))
	require.ErrorIs(t, err, ErrTooLarge)
	require.Len(t, s.modules, 1)
}
