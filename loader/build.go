package loader

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/fetch"
	"github.com/riptides/driverbuild/loader/service"
)

// fromService gets a package the release could not give (releaseErr) by
// having the build-service build it.
func (l *Loader) fromService(ctx context.Context, f *fetch.Fetcher, svc *service.Client, req kernel.Request, name string, releaseErr error) (*fetch.Result, error) {
	log := zerolog.Ctx(ctx)
	cfg := l.Config
	missing := errors.Is(releaseErr, fetch.ErrNotFound)
	if missing {
		log.Info().Err(releaseErr).Msg("package not in the release")
	} else {
		log.Warn().Err(releaseErr).Msg("release unreachable")
	}
	if svc == nil {
		if cfg.DryRun && !missing {
			l.sayf("could not reach the release: %v", releaseErr)
			l.sayf("a real run would stop here: no build-service is configured (--service-url) to ask instead")
			return nil, nil
		}
		return nil, withCode(ExitUnavailable, fmt.Errorf("%s: %w; configure --service-url to have it built", name, releaseErr))
	}
	if cfg.DryRun {
		body, _ := json.Marshal(req)
		if missing {
			l.sayf("not in the release (%v)", releaseErr)
		} else {
			l.sayf("could not reach the release: %v", releaseErr)
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
	// A private repository's download_url is a browser URL, which takes no
	// token: with the API configured the asset is found through it, and
	// checked against the service's digest all the same.
	freq := fetch.Request{DriverVersion: req.DriverVersion, Package: name, SHA256: b.SHA256}
	if f.API == nil {
		freq.URL = b.DownloadURL
	}
	log.Info().Str("url", cmp.Or(freq.URL, "the release, through the GitHub API")).Msg("downloading the built package")
	res, err := f.Fetch(ctx, freq)
	switch {
	case errors.Is(err, fetch.ErrDigest), errors.Is(err, fetch.ErrNoDigest):
		return nil, withCode(ExitRejected, err)
	case err != nil:
		return nil, withCode(ExitUnavailable, fmt.Errorf("download the built package: %w", err))
	}
	log.Info().Str("url", res.URL).Str("sha256", res.SHA256).Str("path", res.Path).Msg("downloaded and verified")
	return &res, nil
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
