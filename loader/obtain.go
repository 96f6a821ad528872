package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/fetch"
	"github.com/riptides/driverbuild/loader/service"
)

// obtain returns the verified package: from the cache, else the release
// and its mirrors, else a build the service runs. In a dry run that cannot
// reach anyone it returns neither package nor error.
func (l *Loader) obtain(ctx context.Context, req kernel.Request, name, cacheDir string) (*fetch.Result, error) {
	log := zerolog.Ctx(ctx)
	cfg := l.Config
	f := &fetch.Fetcher{
		HTTP: l.HTTP, Sources: append([]string{cfg.ReleaseURL}, cfg.Mirrors...), Token: cfg.GitHubToken,
		CacheDir: cacheDir, UserAgent: l.UserAgent, Backoff: l.Backoff,
	}
	if res, ok, err := f.Cached(req.DriverVersion, name); err != nil {
		log.Warn().Err(err).Msg("cache unreadable; downloading")
	} else if ok {
		log.Info().Str("path", res.Path).Str("sha256", res.SHA256).Msg("using cached package")
		if cfg.DryRun {
			l.sayf("cached: %s (sha256 %s)", res.Path, res.SHA256)
		}
		return &res, nil
	}
	svc := l.service()
	freq := fetch.Request{DriverVersion: req.DriverVersion, Package: name}
	if svc != nil {
		freq.Digest = func(ctx context.Context) (string, error) { return l.digestFromService(ctx, svc, req) }
	}
	url := strings.TrimSuffix(cfg.ReleaseURL, "/") + "/" + req.DriverVersion + "/" + name
	log.Info().Str("url", url).Strs("mirrors", cfg.Mirrors).Msg("downloading")
	if cfg.DryRun {
		l.sayf("download: %s", url)
	}
	res, err := f.Fetch(ctx, freq)
	switch {
	case err == nil:
		log.Info().Str("url", res.URL).Str("sha256", res.SHA256).Str("path", res.Path).Msg("downloaded and verified")
		return &res, nil
	case errors.Is(err, fetch.ErrDigest), errors.Is(err, fetch.ErrNoDigest):
		return nil, withCode(ExitRejected, err)
	case ctx.Err() != nil:
		return nil, err
	}

	missing := errors.Is(err, fetch.ErrNotFound)
	if missing {
		log.Info().Err(err).Msg("package not in the release")
	} else {
		log.Warn().Err(err).Msg("release unreachable")
	}
	if svc == nil {
		if cfg.DryRun && !missing {
			l.sayf("could not reach the release: %v", err)
			l.sayf("a real run would stop here: no build-service is configured (--service-url) to ask instead")
			return nil, nil
		}
		return nil, withCode(ExitUnavailable, fmt.Errorf("%s: %w; configure --service-url to have it built", name, err))
	}
	if cfg.DryRun {
		body, _ := json.Marshal(req)
		if missing {
			l.sayf("not in the release (%v)", err)
		} else {
			l.sayf("could not reach the release: %v", err)
		}
		l.sayf("would request a build: POST %s/build %s, and wait up to %s", strings.TrimSuffix(cfg.ServiceURL, "/"), body, cfg.BuildTimeout)
		return nil, nil
	}

	b, err := l.build(ctx, svc, req)
	if err != nil {
		return nil, withCode(ExitUnavailable, err)
	}
	if b.Package != "" && b.Package != name {
		log.Warn().Str("service_package", b.Package).Str("package", name).Msg("the build-service names the package differently; check that packages: matches its config")
	}
	log.Info().Str("url", b.DownloadURL).Msg("downloading the built package")
	res, err = f.Fetch(ctx, fetch.Request{DriverVersion: req.DriverVersion, Package: name, URL: b.DownloadURL, SHA256: b.SHA256})
	switch {
	case errors.Is(err, fetch.ErrDigest), errors.Is(err, fetch.ErrNoDigest):
		return nil, withCode(ExitRejected, err)
	case err != nil:
		return nil, withCode(ExitUnavailable, fmt.Errorf("download the built package: %w", err))
	}
	log.Info().Str("url", res.URL).Str("sha256", res.SHA256).Str("path", res.Path).Msg("downloaded and verified")
	return &res, nil
}

// cacheDir makes the cache dir. A dry run that may not write there (not
// root) uses a temporary one instead, removed by cleanup.
func (l *Loader) cacheDir(ctx context.Context) (dir string, cleanup func(), err error) {
	dir = l.Config.CacheDir
	err = os.MkdirAll(dir, 0o755)
	switch {
	case err == nil:
		return dir, func() {}, nil
	case !l.Config.DryRun:
		return "", nil, fmt.Errorf("cache dir: %w", err)
	}
	tmp, terr := os.MkdirTemp("", "driver-loader-cache-")
	if terr != nil {
		return "", nil, fmt.Errorf("cache dir: %w", err)
	}
	zerolog.Ctx(ctx).Warn().Err(err).Str("instead", tmp).Msg("cache dir not writable; the dry run downloads to a temporary dir")
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

func (l *Loader) service() *service.Client {
	if l.Config.ServiceURL == "" {
		return nil
	}
	return &service.Client{
		BaseURL: l.Config.ServiceURL, Token: l.Config.ServiceToken, HTTP: l.HTTP,
		UserAgent: l.UserAgent, Backoff: l.Backoff,
	}
}

// build asks the service for the package and follows the build until it
// is done, the build fails, or the build timeout passes.
func (l *Loader) build(ctx context.Context, svc *service.Client, req kernel.Request) (service.Build, error) {
	log := zerolog.Ctx(ctx)
	ctx, cancel := context.WithTimeout(ctx, l.Config.BuildTimeout)
	defer cancel()
	svc.Notify = func(err error, wait time.Duration) {
		log.Warn().Err(err).Dur("retry_in", wait).Msg("build-service request failed; retrying")
	}
	start := time.Now()
	log.Info().Str("service", l.Config.ServiceURL).Msg("package missing; asking the build-service")
	b, err := svc.Request(ctx, req)
	if err != nil {
		return b, fmt.Errorf("request a build: %w", err)
	}
	if b.Status == service.StatusDone {
		return b, nil
	}
	log.Info().Str("build_id", b.BuildID).Str("state", b.Status).Msg("build requested")
	b, err = svc.Wait(ctx, b.BuildID, func(b service.Build) {
		log.Info().Str("build_id", b.BuildID).Str("state", b.Status).Str("step", b.Progress).
			Str("elapsed", time.Since(start).Round(time.Second).String()).Msg("waiting for the build")
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return b, fmt.Errorf("gave up after %s: %w", l.Config.BuildTimeout, err)
		}
		return b, err
	}
	log.Info().Str("build_id", b.BuildID).Str("elapsed", time.Since(start).Round(time.Second).String()).Msg("build done")
	return b, nil
}

// digestFromService asks the service for the sha256 of a package that is
// in the release without a .sha256 asset: the service answers at once
// from its asset index.
func (l *Loader) digestFromService(ctx context.Context, svc *service.Client, req kernel.Request) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := svc.Request(ctx, req)
	if err != nil {
		return "", err
	}
	if b.Status != service.StatusDone || b.SHA256 == "" {
		return "", fmt.Errorf("the build-service has no digest for it (status %s)", b.Status)
	}
	return b.SHA256, nil
}
