package hostile

import (
	"crypto/sha256"
	"encoding/hex"
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
			root := ubuntuRoot(t)
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

// A .deb whose debian-binary member is a megabyte, not "2.0\n", verified
// against its .sha256 as any package is: refused as too large, naming the
// member, exit 5, in a dry run as in a real one.
func TestLoaderHugeDebianBinary(t *testing.T) {
	t.Parallel()
	const pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
	member := append([]byte("2.0\n"), make([]byte, 1<<20)...)
	deb := fmt.Appendf(nil, "!<arch>\n%-16s%-12d%-6d%-6d%-8s%-10d`\n", "debian-binary", 0, 0, 0, "100644", len(member))
	deb = append(deb, member...)
	sum := sha256.Sum256(deb)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dl/v0.1.2/"+pkg, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(deb) })
	mux.HandleFunc("GET /dl/v0.1.2/"+pkg+".sha256", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s  %s\n", hex.EncodeToString(sum[:]), pkg)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	root := ubuntuRoot(t)
	for _, dryRun := range []bool{false, true} {
		args := []string{
			"--host-root", root, "--kernel-release", "6.8.0-1053-gcp", "--arch", "x86_64",
			"--driver-version", "v0.1.2", "--release-url", srv.URL + "/dl", "--cache-dir", t.TempDir(),
			"--mode", "container", "--log-format", "json",
		}
		if dryRun {
			args = append(args, "--dry-run")
		}
		code, out := run(t, t.TempDir(), "driver-loader", args...)
		require.Equal(t, 5, code, "dry run %v: %s", dryRun, out)
		require.Contains(t, out, "over the size limit: debian-binary is 1048580 bytes")
	}
}

// ubuntuRoot is a host root whose os-release is Ubuntu 24.04's.
func ubuntuRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), fixtures.Read(t, "os-release", "ubuntu-24.04"), 0o644))
	return root
}
