// Package fetch downloads driver packages from a release and its mirrors,
// verifies their sha256, and keeps verified packages in a cache so that a
// node rebooting into the same kernel needs no network.
package fetch

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/riptides/driverbuild/kernel"
)

var (
	// ErrNotFound: a source answered 404 and none had the package.
	ErrNotFound = errors.New("package not found")
	// ErrDigest: the package is not the one its sha256 names.
	ErrDigest = errors.New("sha256 mismatch")
	// ErrNoDigest: nothing said what the package's sha256 should be.
	ErrNoDigest = errors.New("no sha256 to verify the package against")
	// ErrTooLarge: the package is larger than MaxSize.
	ErrTooLarge = errors.New("package too large")
	// ErrTimeout: the download took longer than MaxTime.
	ErrTimeout = errors.New("download took too long")
	// ErrTooSlow: the download went slower than MinRate.
	ErrTooSlow = errors.New("download too slow")
)

// Defaults of the download bounds; docs/driver-loader.md lists them.
const (
	DefaultMaxSize    = 512 << 20
	DefaultMaxTime    = 10 * time.Minute
	DefaultMinRate    = 1 << 10 // bytes a second
	DefaultRateWindow = 30 * time.Second
)

// Fetcher gets packages. Sources are release URL prefixes: a package is
// {source}/{release}/{package}, its digest the same plus .sha256, where
// release is the tag kernel.ReleaseTag computes (a shard of the driver
// version, or the driver version itself).
type Fetcher struct {
	HTTP *http.Client
	// Sources are tried in order: the release first, then mirrors.
	Sources []string
	// Token is sent as a bearer token to the origin (scheme, host and
	// port) of the first source, or of the API when API is set: to that
	// origin only, redirects included. Mirrors and other origins, such as
	// the storage a download redirects to, never see it.
	Token string
	// API, when set, replaces the first source: assets are found and
	// downloaded through GitHub's REST API, as a private repository needs.
	API *GitHubAPI
	// MirrorDigests trusts a mirror's own .sha256 asset. Without it a
	// mirror is used only for a package whose digest is known from
	// elsewhere (the build-service's answer): whoever runs a mirror could
	// otherwise publish any package with a matching digest.
	MirrorDigests bool
	CacheDir      string
	MaxSize       int64 // 0 means DefaultMaxSize
	// MaxTime bounds the whole download from one source, its retries and
	// its .sha256 included; 0 means DefaultMaxTime.
	MaxTime time.Duration
	// MinRate is the least bytes a second a download must average over
	// each RateWindow, so that a server dripping bytes cannot keep it
	// going; 0 means DefaultMinRate, DefaultRateWindow.
	MinRate    int64
	RateWindow time.Duration
	UserAgent  string
	// Backoff spaces retries of a failing source; nil means three tries
	// about a second apart.
	Backoff func() backoff.BackOff
}

// Request names the package to get.
type Request struct {
	DriverVersion string
	Package       string
	// SHA256 is the expected digest (hex) when known, e.g. from the
	// build-service; otherwise the release's .sha256 asset is.
	SHA256 string
	// URL, when set, replaces the first source (the build-service's
	// download_url); mirrors follow.
	URL string
}

// Result is a verified package in the cache.
type Result struct {
	Path   string
	SHA256 string
	URL    string // where it was downloaded from; empty when cached
	Cached bool
	// File is the package, open at its start: the very file that was
	// hashed, so that nothing can swap it between verification and use.
	// The caller closes it.
	File *os.File
}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}$`)
)

// Cached returns the package from the cache when it is there and still
// matches the digest it was verified against. A damaged entry is removed;
// a symlink, or a cache others may write to, is an error.
func (f *Fetcher) Cached(driverVersion, pkg string) (Result, bool, error) {
	if !nameRe.MatchString(pkg) {
		return Result{}, false, fmt.Errorf("package name %q is not a file name", pkg)
	}
	if err := kernel.ValidateDriverVersion(driverVersion); err != nil {
		return Result{}, false, err
	}
	root, err := OpenCache(f.CacheDir)
	if err != nil {
		return Result{}, false, err
	}
	defer root.Close()
	switch err := versionDir(root, driverVersion, false); {
	case errors.Is(err, fs.ErrNotExist):
		return Result{}, false, nil
	case err != nil:
		return Result{}, false, err
	}
	name := path.Join(driverVersion, pkg)
	sumFile, err := openRegular(root, name+".sha256")
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	want, err := io.ReadAll(io.LimitReader(sumFile, 4096))
	sumFile.Close()
	if err != nil {
		return Result{}, false, err
	}
	pf, err := openRegular(root, name)
	if errors.Is(err, fs.ErrNotExist) {
		_ = root.Remove(name + ".sha256")
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	got, err := hashFile(pf)
	if err == nil && got == strings.TrimSpace(string(want)) {
		return Result{Path: filepath.Join(f.CacheDir, filepath.FromSlash(name)), SHA256: got, Cached: true, File: pf}, true, nil
	}
	pf.Close()
	_ = root.Remove(name)
	_ = root.Remove(name + ".sha256")
	return Result{}, false, err
}

// Fetch downloads, verifies and caches a package.
func (f *Fetcher) Fetch(ctx context.Context, r Request) (Result, error) {
	if !nameRe.MatchString(r.Package) {
		return Result{}, fmt.Errorf("package name %q is not a file name", r.Package)
	}
	if r.SHA256 != "" && !kernel.IsSHA256(strings.ToLower(r.SHA256)) {
		return Result{}, fmt.Errorf("%w: %q is not a sha256 in hex", ErrDigest, r.SHA256)
	}
	if err := kernel.ValidateDriverVersion(r.DriverVersion); err != nil {
		return Result{}, err
	}
	root, err := OpenCache(f.CacheDir)
	if err != nil {
		return Result{}, err
	}
	defer root.Close()
	if err := versionDir(root, r.DriverVersion, true); err != nil {
		return Result{}, fmt.Errorf("cache: %w", err)
	}

	locators := f.locators(r)
	if len(locators) == 0 {
		return Result{}, errors.New("no release URL or mirror to download from")
	}
	var errs []error
	for _, locate := range locators {
		loc, err := locate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, err
			}
			errs = append(errs, err)
			continue
		}
		res, err := f.fetchFrom(ctx, root, loc, r)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, ErrDigest) || errors.Is(err, ErrNoDigest) || ctx.Err() != nil {
			return Result{}, err // another source would not make this package trustworthy
		}
		errs = append(errs, err)
	}
	// Wraps ErrNotFound when any source answered 404.
	return Result{}, errors.Join(errs...)
}

// location is where one source keeps a package and, when it has one, its
// .sha256 asset.
type location struct{ pkg, sum string }

type locator func(ctx context.Context) (location, error)

// locators lists where to look, in order: the release (the service's URL,
// or through the API, when set), then the mirrors that can be verified.
func (f *Fetcher) locators(r Request) []locator {
	fixed := func(u string, withSum bool) locator {
		loc := location{pkg: u}
		if withSum {
			loc.sum = u + ".sha256"
		}
		return func(context.Context) (location, error) { return loc, nil }
	}
	tags := releasesOf(r.DriverVersion, r.Package)
	var out []locator
	switch {
	case r.URL != "":
		out = append(out, fixed(r.URL, true))
	case f.API != nil:
		for _, tag := range tags {
			out = append(out, func(ctx context.Context) (location, error) { return f.locateAsset(ctx, tag, r.Package) })
		}
	case len(f.Sources) > 0:
		for _, tag := range tags {
			out = append(out, fixed(kernel.ReleaseURL(f.Sources[0], tag, r.Package), true))
		}
	}
	for _, s := range f.Sources[min(1, len(f.Sources)):] {
		if r.SHA256 == "" && !f.MirrorDigests {
			out = append(out, func(context.Context) (location, error) {
				return location{}, fmt.Errorf("mirror %s not asked: its own .sha256 is not trusted while a build-service is configured to give the digest", s)
			})
			continue
		}
		for _, tag := range tags {
			out = append(out, fixed(kernel.ReleaseURL(s, tag, r.Package), true))
		}
	}
	return out
}

// releasesOf are the releases a package is looked for in: the one
// kernel.ReleaseTag computes, then, for a sharded driver version, its own
// release, which holds what was published before it had shards. The
// second costs a request only when the first answered 404.
func releasesOf(driverVersion, pkg string) []string {
	tag := kernel.ReleaseTag(driverVersion, pkg)
	if tag == driverVersion {
		return []string{tag}
	}
	return []string{tag, driverVersion}
}

// PackageURL is where a release URL prefix serves a package of a driver
// version: in the release kernel.ReleaseTag computes.
func PackageURL(prefix, driverVersion, pkg string) string {
	return kernel.ReleaseURL(prefix, kernel.ReleaseTag(driverVersion, pkg), pkg)
}

func (f *Fetcher) fetchFrom(ctx context.Context, root *os.Root, loc location, r Request) (Result, error) {
	u := loc.pkg
	tmp, tmpName, err := createTemp(root, r.DriverVersion)
	if err != nil {
		return Result{}, fmt.Errorf("cache: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			_ = root.Remove(tmpName)
		}
	}()

	maxSize := cmp.Or(f.MaxSize, DefaultMaxSize)
	maxTime := cmp.Or(f.MaxTime, DefaultMaxTime)
	ctx, cancel := context.WithTimeoutCause(ctx, maxTime,
		fmt.Errorf("%w: %s from %s took longer than %s (download timeout)", ErrTimeout, r.Package, u, maxTime))
	defer cancel()
	got, err := retry(ctx, f.Backoff, func() (string, error) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return "", backoff.Permanent(err)
		}
		if err := tmp.Truncate(0); err != nil {
			return "", backoff.Permanent(err)
		}
		h := sha256.New()
		if err := f.get(ctx, u, acceptBinary, io.MultiWriter(tmp, h), maxSize); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	})
	if err != nil {
		return Result{}, err
	}

	want := strings.ToLower(r.SHA256)
	if want == "" {
		if want, err = f.sidecar(ctx, loc.sum, r.Package); err != nil {
			return Result{}, err
		}
	}
	switch {
	case want == "":
		return Result{}, fmt.Errorf("%w: %s from %s has no %s asset beside it, so it cannot be verified; publish one (the build-service does for every package it builds)", ErrNoDigest, r.Package, u, kernel.ChecksumName(r.Package))
	case !kernel.IsSHA256(want):
		return Result{}, fmt.Errorf("%w: expected digest %q is not a sha256 in hex", ErrDigest, want)
	case got != want:
		return Result{}, fmt.Errorf("%w: %s from %s has sha256 %s, expected %s; it was not used", ErrDigest, r.Package, u, got, want)
	}

	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Result{}, fmt.Errorf("cache: %w", err)
	}
	final := path.Join(r.DriverVersion, r.Package)
	// The digest goes first: a package without one is not trusted, so a
	// crash between the two renames leaves nothing that looks cached.
	_ = root.Remove(final + ".sha256")
	if err := root.Rename(tmpName, final); err != nil {
		return Result{}, fmt.Errorf("cache: %w", err)
	}
	if err := writeAtomic(root, final+".sha256", []byte(got+"\n")); err != nil {
		return Result{}, fmt.Errorf("cache: %w", err)
	}
	keep = true
	return Result{Path: filepath.Join(f.CacheDir, filepath.FromSlash(final)), SHA256: got, URL: u, File: tmp}, nil
}

// sidecar reads a .sha256 asset: "HEX" or sha256sum's "HEX  NAME". None,
// or a 404, is no digest, not an error.
func (f *Fetcher) sidecar(ctx context.Context, u, pkg string) (string, error) {
	if u == "" {
		return "", nil
	}
	var buf strings.Builder
	err := f.get(ctx, u, acceptBinary, &buf, 4096)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", kernel.ChecksumName(pkg), err)
	}
	sum, err := kernel.ParseChecksum(buf.String(), pkg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDigest, err)
	}
	return sum, nil
}

const acceptBinary = "application/octet-stream"

// get downloads u into w, following redirects. A 404 is ErrNotFound and
// permanent; other answers and network errors are worth retrying.
func (f *Fetcher) get(ctx context.Context, u, accept string, w io.Writer, maxSize int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return backoff.Permanent(err)
	}
	req.Header.Set("Accept", accept)
	if f.UserAgent != "" {
		req.Header.Set("User-Agent", f.UserAgent)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req = req.WithContext(ctx)
	resp, err := f.client().Do(req)
	if err != nil {
		return bounded(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return backoff.Permanent(fmt.Errorf("%w: GET %s: 404", ErrNotFound, u))
	case resp.StatusCode != http.StatusOK:
		err := fmt.Errorf("GET %s: %s", u, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return err
		}
		return backoff.Permanent(err)
	case resp.ContentLength > maxSize:
		return backoff.Permanent(fmt.Errorf("%w: GET %s: %d bytes, more than the %d bytes accepted", ErrTooLarge, u, resp.ContentLength, maxSize))
	}
	body := f.watchRate(resp.Body, u, cancel)
	defer body.stop()
	n, err := io.Copy(w, io.LimitReader(body, maxSize+1))
	if err != nil {
		return bounded(ctx, fmt.Errorf("GET %s: %w", u, err))
	}
	if n > maxSize {
		return backoff.Permanent(fmt.Errorf("%w: GET %s: more than the %d bytes accepted", ErrTooLarge, u, maxSize))
	}
	return nil
}

// bounded is err, or the bound that cut the request short: a download
// that ran out of time is not retried, one too slow may be.
func bounded(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	switch {
	case ctx.Err() == nil:
		return err
	case errors.Is(cause, ErrTimeout):
		return backoff.Permanent(cause)
	case errors.Is(cause, ErrTooSlow):
		return cause
	}
	return err
}

// rateBody cancels its request when a window passes with fewer bytes read
// than the minimum rate asks for. A ticker, not the reads, checks: a
// server that stops sending altogether is cut off as surely as one that
// drips.
type rateBody struct {
	r    io.Reader
	n    atomic.Int64 // bytes read in the current window
	done chan struct{}
}

func (f *Fetcher) watchRate(body io.Reader, u string, cancel context.CancelCauseFunc) *rateBody {
	minRate, window := cmp.Or(f.MinRate, DefaultMinRate), cmp.Or(f.RateWindow, DefaultRateWindow)
	least := int64(float64(minRate) * window.Seconds())
	b := &rateBody{r: body, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(window)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-t.C:
			}
			if got := b.n.Swap(0); got < least {
				cancel(fmt.Errorf("%w: GET %s: %d bytes in %s, below the minimum of %d bytes/s", ErrTooSlow, u, got, window, minRate))
				return
			}
		}
	}()
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *rateBody) stop() { close(b.done) }

func retry[T any](ctx context.Context, bo func() backoff.BackOff, op backoff.Operation[T]) (T, error) {
	b := backoff.BackOff(&backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 10 * time.Second})
	if bo != nil {
		b = bo()
	}
	return backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(3))
}

// client is f.HTTP with the token added by its transport. A header set
// on the request would be copied by http.Client to every redirect to the
// same host name, whatever its port or scheme; the transport sees each hop
// and adds the token only to those for the token's origin.
func (f *Fetcher) client() *http.Client {
	hc := f.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if f.Token == "" {
		return hc
	}
	tokenURL := ""
	switch {
	case f.API != nil:
		tokenURL = f.API.URL
	case len(f.Sources) > 0:
		tokenURL = f.Sources[0]
	}
	u, err := url.Parse(tokenURL)
	if err != nil {
		return hc
	}
	c := *hc
	c.Transport = &tokenTransport{base: hc.Transport, origin: origin(u), token: f.Token}
	return &c
}

// tokenTransport adds a bearer token to the requests for one origin.
type tokenTransport struct {
	base   http.RoundTripper // nil means http.DefaultTransport
	origin string
	token  string
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	switch {
	case origin(r.URL) == t.origin:
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	case r.Header.Get("Authorization") != "":
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	return base.RoundTrip(r)
}

// origin is scheme://host:port, the port spelled out.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
