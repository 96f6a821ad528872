// Package loader is the driver-loader: it works out which kernel the node
// runs, gets the matching driver package (from the cache, the release, or
// a build it asks the build-service for), verifies it and loads its
// modules, with the package manager (host mode) or with finit_module
// (container mode).
package loader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/detect"
	"github.com/riptides/driverbuild/loader/extract"
	"github.com/riptides/driverbuild/loader/kmod"
)

// Loader runs one load. Its fields other than Config are the outside
// world, replaced in tests.
type Loader struct {
	Config Config
	HTTP   *http.Client
	Kernel kmod.Kernel
	Exec   Commander
	// Uname reports the kernel release and machine; nil is the system call.
	Uname func() (release, machine string, err error)
	// Out receives the report: the package line and, in a dry run, what
	// would be done. Logs go to the context's zerolog logger.
	Out io.Writer
	// Backoff spaces polls and retries; nil means the production defaults.
	Backoff   func() backoff.BackOff
	UserAgent string
}

// New is a Loader for the real system.
func New(cfg Config, out io.Writer) *Loader {
	return &Loader{
		Config: cfg, HTTP: NewHTTPClient(), Kernel: kmod.System{}, Exec: SystemExec{}, Out: out,
		UserAgent: "driver-loader/" + DefaultDriverVersion,
	}
}

// idleTimeout fails a response body that sends nothing for this long.
const idleTimeout = 60 * time.Second

// NewHTTPClient bounds each phase of a request without bounding a large
// download: connecting, the TLS handshake, the wait for the headers, and
// any pause in the body. It keeps proxy settings from the environment.
func NewHTTPClient() *http.Client { return newHTTPClient(idleTimeout) }

func newHTTPClient(idle time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: &idleTransport{base: t, idle: idle}}
}

// errStalled is a response body that stopped sending.
var errStalled = errors.New("download stalled")

// idleTransport ends a request whose body sends nothing for idle, so that
// a stalled download fails, and is retried, instead of hanging: keepalives
// keep a half-dead connection open for ever.
type idleTransport struct {
	base http.RoundTripper
	idle time.Duration
}

func (t *idleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	b := &idleBody{ReadCloser: resp.Body, cancel: cancel, idle: t.idle}
	b.timer = time.AfterFunc(t.idle, func() { b.stalled.Store(true); cancel(errStalled) })
	resp.Body = b
	return resp, nil
}

type idleBody struct {
	io.ReadCloser
	cancel  context.CancelCauseFunc
	idle    time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && b.stalled.Load() {
		err = fmt.Errorf("%w: no data for %s", errStalled, b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// Run detects, names, obtains, verifies and loads. Its error carries the
// exit code (see ExitCode).
func (l *Loader) Run(ctx context.Context) error {
	log := zerolog.Ctx(ctx)
	cfg := l.Config
	catalog, err := cfg.Catalog()
	if err != nil {
		return UsageError(err)
	}
	req, err := l.resolve(catalog)
	if err != nil {
		return err
	}
	name, err := catalog.PackageName(cfg.Packages, req)
	if err != nil {
		return withCode(ExitUnsupported, err)
	}
	fmt.Fprintf(l.Out, "package: %s\n", name)
	log.Info().Str("package", name).Str("distribution", req.Distribution).Str("distro_version", req.DistroVersion).
		Str("kernel", req.KernelVersion).Str("arch", req.Architecture).Str("driver_version", req.DriverVersion).
		Str("mode", string(cfg.Mode)).Msg("resolved package")
	if cfg.DriverVersion == devDriverVersion {
		log.Warn().Msg("no driver version configured; this development build defaults to " + devDriverVersion + ", which is never released: give --driver-version")
	}
	if cfg.DryRun {
		l.sayf("dry run: nothing will be installed or loaded")
		l.sayf("platform: %s %s, kernel %s, %s", req.Distribution, req.DistroVersion, req.KernelVersion, req.Architecture)
	}

	cacheDir, cleanup, err := l.cacheDir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	pkg, err := l.obtain(ctx, req, name, cacheDir)
	if err != nil {
		return err
	}
	if pkg == nil { // a dry run that stopped short of a package
		l.sayf("would then verify the package, check each module's vermagic against %s and load it (%s mode)", req.KernelVersion, cfg.Mode)
		return nil
	}
	defer pkg.File.Close()
	format, err := catalog.Format(req.Distribution)
	if err != nil {
		return withCode(ExitUnsupported, err)
	}
	return l.load(ctx, req, format, name, pkg.File)
}

// resolve detects the platform and checks it as the service would.
func (l *Loader) resolve(catalog *kernel.Catalog) (kernel.Request, error) {
	cfg := l.Config
	p, err := detect.Detector{HostRoot: cfg.HostRoot, Aliases: cfg.Aliases, Catalog: catalog, Uname: l.Uname}.Detect(cfg.Platform)
	var unsupported *detect.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return kernel.Request{}, withCode(ExitUnsupported, err)
	case err != nil:
		return kernel.Request{}, err
	}
	req, err := catalog.Normalize(kernel.Request{
		KernelVersion: p.KernelRelease, Architecture: p.Arch, Distribution: p.Distribution,
		DistroVersion: p.DistroVersion, DriverVersion: cfg.DriverVersion,
	})
	var fe *kernel.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "driver_version":
		return kernel.Request{}, UsageError(err)
	case err != nil:
		return kernel.Request{}, withCode(ExitUnsupported, fmt.Errorf("unsupported platform: %w", err))
	}
	return req, nil
}

// load extracts the package's modules into a fresh work dir, checks them
// against the kernel and what it has loaded, and loads them. pkg is the
// verified package, read from the descriptor it was hashed through.
func (l *Loader) load(ctx context.Context, req kernel.Request, format kernel.Format, name string, pkg *os.File) error {
	work, err := os.MkdirTemp("", "driver-loader-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	pkgDir, koDir := filepath.Join(work, "package"), filepath.Join(work, "modules")
	for _, d := range []string{pkgDir, koDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	}
	res, err := extract.Package(bufio.NewReader(pkg), format, pkgDir, extract.Options{Arch: req.Architecture})
	if err != nil {
		return withCode(ExitRejected, fmt.Errorf("package %s refused: %w", name, err))
	}
	mods, err := inspect(res.Modules, pkgDir, koDir, req)
	if err != nil {
		return withCode(ExitRejected, fmt.Errorf("package %s: %w", name, err))
	}
	for _, m := range mods {
		zerolog.Ctx(ctx).Info().Str("module", m.info.Name).Str("version", m.info.Version).Str("vermagic", m.info.Vermagic).Msg("module matches the running kernel")
	}
	if err := l.plan(mods); err != nil {
		return withCode(ExitLoad, err)
	}
	if l.Config.Mode == ModeHost {
		// The package manager takes a path: a private copy of the
		// verified bytes, which nobody else can swap.
		file := filepath.Join(work, name)
		if err := copyFile(file, pkg); err != nil {
			return fmt.Errorf("copy the package for the package manager: %w", err)
		}
		err = l.loadHost(ctx, file, format, req.KernelVersion, mods)
	} else {
		err = l.loadContainer(ctx, mods)
	}
	return withCode(ExitLoad, err)
}

// copyFile writes what src holds, from its start, to a new file dst.
func copyFile(dst string, src *os.File) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// sayf writes one line of the report.
func (l *Loader) sayf(format string, args ...any) {
	fmt.Fprintf(l.Out, format+"\n", args...)
}
