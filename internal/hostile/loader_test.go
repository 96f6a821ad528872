package hostile

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/fixtures"
)

// The real driver-loader against release servers that mean harm: one that
// drips a byte at a time, one that announces more than a package may be.
// Each is refused with its bound named, with exit code 4, and a dry run
// ends as the real run does.
func TestLoaderDownloadBounds(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		serve http.HandlerFunc
		says  string
	}{
		"dripping": {
			serve: func(w http.ResponseWriter, r *http.Request) {
				for {
					if _, err := w.Write([]byte{'x'}); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			},
			says: "took longer than 1s",
		},
		"over 512 MiB": {
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(int64(512<<20)+1))
				w.WriteHeader(http.StatusOK)
			},
			says: "more than the 536870912 bytes accepted",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.serve)
			t.Cleanup(srv.Close)
			root := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), fixtures.Read(t, "os-release", "ubuntu-24.04"), 0o644))
			for _, dryRun := range []bool{false, true} {
				args := []string{
					"--host-root", root, "--kernel-release", "6.8.0-1053-gcp", "--arch", "x86_64",
					"--driver-version", "v0.1.2", "--release-url", srv.URL + "/dl", "--cache-dir", t.TempDir(),
					"--mode", "container", "--download-timeout", "1s", "--log-format", "json",
				}
				if dryRun {
					args = append(args, "--dry-run")
				}
				code, out := run(t, t.TempDir(), "driver-loader", args...)
				require.Equal(t, 4, code, "dry run %v: %s", dryRun, out)
				require.Contains(t, out, tc.says)
			}
		})
	}
}
