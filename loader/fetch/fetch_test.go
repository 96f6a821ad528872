package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/loader/fetch"
)

const (
	dv  = "v0.1.2"
	pkg = "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb"
)

var body = []byte("a package, trust me")

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release serves files under /dl/ and records who asked with what.
type release struct {
	mu       sync.Mutex
	files    map[string]string // path -> body
	statuses map[string][]int  // path -> status codes to answer first
	seen     []string          // "path auth"
}

func (r *release) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, req.URL.Path+" "+req.Header.Get("Authorization"))
	if codes := r.statuses[req.URL.Path]; len(codes) > 0 {
		r.statuses[req.URL.Path] = codes[1:]
		w.WriteHeader(codes[0])
		return
	}
	b, ok := r.files[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write([]byte(b))
}

func (r *release) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func serve(t *testing.T, files map[string]string) (*release, string) {
	t.Helper()
	r := &release{files: files, statuses: map[string][]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/dl"
}

func fetcher(t *testing.T, sources ...string) *fetch.Fetcher {
	return &fetch.Fetcher{
		Sources: sources, CacheDir: t.TempDir(), Token: "tok",
		Backoff: func() backoff.BackOff { return &backoff.ZeroBackOff{} },
	}
}

func TestFetchWithSidecarThenCache(t *testing.T) {
	t.Parallel()
	r, src := serve(t, map[string]string{
		"/dl/" + dv + "/" + pkg:             string(body),
		"/dl/" + dv + "/" + pkg + ".sha256": sum(body) + "  " + pkg + "\n",
	})
	f := fetcher(t, src)
	_, ok, err := f.Cached(dv, pkg)
	require.NoError(t, err)
	require.False(t, ok)

	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg})
	require.NoError(t, err)
	require.Equal(t, sum(body), res.SHA256)
	require.Equal(t, src+"/"+dv+"/"+pkg, res.URL)
	require.Equal(t, filepath.Join(f.CacheDir, dv, pkg), res.Path)
	got, err := os.ReadFile(res.Path)
	require.NoError(t, err)
	require.Equal(t, body, got)

	res, ok, err = f.Cached(dv, pkg)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, res.Cached)
	require.Equal(t, sum(body), res.SHA256)
	require.Len(t, r.requests(), 2, "the cache needs no network")
	entries, err := os.ReadDir(filepath.Join(f.CacheDir, dv))
	require.NoError(t, err)
	require.Len(t, entries, 2, "the package and its digest, no leftovers")
}

func TestFetchMirrorAndToken(t *testing.T) {
	t.Parallel()
	primary, src := serve(t, nil)
	mirror, mirrorSrc := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	// Same host, other port: a different origin must not see the token.
	require.Equal(t, hostname(t, src), hostname(t, mirrorSrc))
	f := fetcher(t, src, mirrorSrc)
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: strings.ToUpper(sum(body))})
	require.NoError(t, err)
	require.Equal(t, mirrorSrc+"/"+dv+"/"+pkg, res.URL)
	require.Equal(t, []string{"/dl/" + dv + "/" + pkg + " Bearer tok"}, primary.requests())
	require.Equal(t, []string{"/dl/" + dv + "/" + pkg + " "}, mirror.requests())
}

func hostname(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Hostname()
}

// redirector answers every request with a redirect to to+path.
func redirector(t *testing.T, to func(path string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to(r.URL.Path), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFetchFollowsRedirectWithoutToken: storage on the same host name,
// another port, is another origin. http.Client would copy a header set on
// the request there.
func TestFetchFollowsRedirectWithoutToken(t *testing.T) {
	t.Parallel()
	storage, storageURL := serve(t, map[string]string{"/dl/blob": string(body)})
	src := redirector(t, func(string) string { return storageURL + "/blob" })
	require.Equal(t, hostname(t, src), hostname(t, storageURL))

	f := fetcher(t, src+"/dl")
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Equal(t, []string{"/dl/blob "}, storage.requests(), "the token stays with the release's origin")
}

// TestFetchRedirectWithinOrigin: a redirect to the token's own origin
// keeps it.
func TestFetchRedirectWithinOrigin(t *testing.T) {
	t.Parallel()
	r := &release{files: map[string]string{"/blob": string(body)}, statuses: map[string][]int{}}
	mux := http.NewServeMux()
	mux.Handle("/blob", r)
	mux.HandleFunc("/dl/", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/blob", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	f := fetcher(t, srv.URL+"/dl")
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Equal(t, []string{"/blob Bearer tok"}, r.requests())
}

// TestFetchTokenNotInCleartext: the token's origin is https; the same
// host and port over http is another origin.
func TestFetchTokenNotInCleartext(t *testing.T) {
	t.Parallel()
	plain, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	secure := strings.Replace(src, "http://", "https://", 1)
	f := fetcher(t, secure, src) // the https release fails (a plain server), the mirror answers
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	for _, r := range plain.requests() {
		require.NotContains(t, r, "Bearer", "sent over http")
	}
	require.Contains(t, plain.requests(), "/dl/"+dv+"/"+pkg+" ")
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		files   map[string]string
		req     fetch.Request
		wantErr error
		msg     string
	}{
		"missing everywhere": {
			req: fetch.Request{DriverVersion: dv, Package: pkg}, wantErr: fetch.ErrNotFound,
		},
		"expected digest differs": {
			files:   map[string]string{"/dl/" + dv + "/" + pkg: string(body)},
			req:     fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum([]byte("other"))},
			wantErr: fetch.ErrDigest, msg: "expected " + sum([]byte("other")) + "; it was not used",
		},
		"sidecar differs": {
			files: map[string]string{
				"/dl/" + dv + "/" + pkg: string(body), "/dl/" + dv + "/" + pkg + ".sha256": sum([]byte("other")) + "\n",
			},
			req: fetch.Request{DriverVersion: dv, Package: pkg}, wantErr: fetch.ErrDigest,
		},
		"sidecar names another file": {
			files: map[string]string{
				"/dl/" + dv + "/" + pkg: string(body), "/dl/" + dv + "/" + pkg + ".sha256": sum(body) + " *other.deb\n",
			},
			req: fetch.Request{DriverVersion: dv, Package: pkg}, wantErr: fetch.ErrDigest, msg: `is the digest of "*other.deb"`,
		},
		"sidecar is not a digest": {
			files: map[string]string{
				"/dl/" + dv + "/" + pkg: string(body), "/dl/" + dv + "/" + pkg + ".sha256": "<html>\n",
			},
			req: fetch.Request{DriverVersion: dv, Package: pkg}, wantErr: fetch.ErrDigest,
		},
		"no digest anywhere": {
			files:   map[string]string{"/dl/" + dv + "/" + pkg: string(body)},
			req:     fetch.Request{DriverVersion: dv, Package: pkg},
			wantErr: fetch.ErrNoDigest, msg: "no " + pkg + ".sha256 asset beside it, so it cannot be verified",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, src := serve(t, tc.files)
			f := fetcher(t, src)
			_, err := f.Fetch(context.Background(), tc.req)
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.msg)
			_, ok, err := f.Cached(dv, pkg)
			require.NoError(t, err)
			require.False(t, ok, "nothing unverified is cached")
			entries, _ := os.ReadDir(filepath.Join(f.CacheDir, dv))
			require.Empty(t, entries, "no partial downloads are left")
		})
	}
}

// TestFetchMirrorDigests: a mirror's own .sha256 vouches for its package
// only when nothing better (the build-service) is configured.
func TestFetchMirrorDigests(t *testing.T) {
	t.Parallel()
	tampered := []byte("not the release's package")
	for name, tc := range map[string]struct {
		trust   bool
		sha256  string
		wantErr error
		msg     string
		asked   int
	}{
		"trusted without a service":       {trust: true, wantErr: nil, asked: 2},
		"not asked with a service":        {wantErr: fetch.ErrNotFound, msg: "mirror", asked: 0},
		"checked against the service's":   {sha256: sum(body), wantErr: fetch.ErrDigest, asked: 1},
		"the service's digest wins (too)": {trust: true, sha256: sum(body), wantErr: fetch.ErrDigest, asked: 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, src := serve(t, nil)
			mirror, mirrorSrc := serve(t, map[string]string{
				"/dl/" + dv + "/" + pkg:             string(tampered),
				"/dl/" + dv + "/" + pkg + ".sha256": sum(tampered) + "\n",
			})
			f := fetcher(t, src, mirrorSrc)
			f.MirrorDigests = tc.trust
			res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: tc.sha256})
			require.Len(t, mirror.requests(), tc.asked)
			if tc.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, sum(tampered), res.SHA256)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestFetchRetriesServerErrors(t *testing.T) {
	t.Parallel()
	r, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	r.statuses["/dl/"+dv+"/"+pkg] = []int{502, 503}
	f := fetcher(t, src)
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Len(t, r.requests(), 3)
}

func TestFetchUnreachableIsNotNotFound(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	f := fetcher(t, url)
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.Error(t, err)
	require.NotErrorIs(t, err, fetch.ErrNotFound)
	require.ErrorContains(t, err, "connection refused")
}

func TestFetchSizeLimit(t *testing.T) {
	t.Parallel()
	_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	f := fetcher(t, src)
	f.MaxSize = 4
	_, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.ErrorContains(t, err, "more than the 4")
}

func TestFetchFromURL(t *testing.T) {
	t.Parallel()
	r, src := serve(t, map[string]string{"/dl/elsewhere/" + pkg: string(body)})
	f := fetcher(t, "http://release.invalid/dl")
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, URL: src + "/elsewhere/" + pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Equal(t, src+"/elsewhere/"+pkg, res.URL)
	require.Equal(t, []string{"/dl/elsewhere/" + pkg + " "}, r.requests())

	// The URL replaces the release; mirrors follow it.
	_, gone := serve(t, nil)
	_, mirror := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	f = fetcher(t, "http://release.invalid/dl", mirror)
	res, err = f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, URL: gone + "/x/" + pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.Equal(t, mirror+"/"+dv+"/"+pkg, res.URL)
}

func TestCachedDropsDamagedEntry(t *testing.T) {
	t.Parallel()
	_, src := serve(t, map[string]string{"/dl/" + dv + "/" + pkg: string(body)})
	f := fetcher(t, src)
	res, err := f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: pkg, SHA256: sum(body)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(res.Path, []byte("bit rot"), 0o644))

	_, ok, err := f.Cached(dv, pkg)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = os.Stat(res.Path)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestRefusesUnsafeNames(t *testing.T) {
	t.Parallel()
	f := fetcher(t, "http://release.invalid/dl")
	_, _, err := f.Cached(dv, "../../etc/passwd")
	require.ErrorContains(t, err, "not a file name")
	_, _, err = f.Cached("../v1", pkg)
	require.ErrorContains(t, err, "driver_version")
	_, err = f.Fetch(context.Background(), fetch.Request{DriverVersion: dv, Package: "a/b"})
	require.ErrorContains(t, err, "not a file name")
}
