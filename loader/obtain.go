package loader

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/fetch"
)

// obtain returns the verified package: from the cache, else the release
// and its mirrors, else a build the service runs. A dry run that stops
// short of a package returns neither package nor error.
func (l *Loader) obtain(ctx context.Context, req kernel.Request, name, cacheDir string) (*fetch.Result, error) {
	log := zerolog.Ctx(ctx)
	cfg := l.Config
	svc := l.service()
	f := &fetch.Fetcher{
		HTTP: l.HTTP, Sources: append([]string{cfg.ReleaseURL}, cfg.Mirrors...), Token: cfg.GitHubToken,
		API: cfg.GitHubAPI(), CacheDir: cacheDir, UserAgent: l.UserAgent, Backoff: l.Backoff,
		MaxTime: cfg.DownloadTimeout, MinRate: cfg.DownloadMinRate,
		// With a build-service, mirrors serve packages it vouches for.
		MirrorDigests: svc == nil,
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
	freq := fetch.Request{DriverVersion: req.DriverVersion, Package: name}
	url := fetch.PackageURL(cfg.ReleaseURL, req.DriverVersion, name)
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
	case errors.Is(err, fetch.ErrTooLarge), errors.Is(err, fetch.ErrTimeout), errors.Is(err, fetch.ErrTooSlow):
		// The release answered, past a bound: a build would be published
		// there too. A dry run ends as the real run does.
		return nil, withCode(ExitUnavailable, err)
	}
	return l.fromService(ctx, f, svc, req, name, err)
}

// cacheDir makes the cache dir (0700) and refuses one others could write
// to. A dry run that may not write there (not root) uses a temporary one
// instead, removed by cleanup.
func (l *Loader) cacheDir(ctx context.Context) (dir string, cleanup func(), err error) {
	dir = l.Config.CacheDir
	root, err := fetch.OpenCache(dir)
	switch {
	case err == nil:
		root.Close()
		return dir, func() {}, nil
	case errors.Is(err, fetch.ErrUnsafeCache) || !l.Config.DryRun:
		return "", nil, err
	}
	tmp, terr := os.MkdirTemp("", "driver-loader-cache-")
	if terr != nil {
		return "", nil, fmt.Errorf("cache dir: %w", err)
	}
	zerolog.Ctx(ctx).Warn().Err(err).Str("instead", tmp).Msg("cache dir not writable; the dry run downloads to a temporary dir")
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
