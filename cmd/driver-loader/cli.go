package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/loader"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// run is main without the process: it returns the exit code. prepare, when
// set, adjusts the loader before it runs (tests replace the system).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool), prepare func(*loader.Loader)) int {
	fs := flag.NewFlagSet("driver-loader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: driver-loader [flags]\n\nLoads the riptides driver for the running kernel. Flags override environment\nvariables, which override the config file. See docs/driver-loader.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var (
		configFile = fs.String("config", "", "YAML config file (default "+loader.DefaultConfigFile+" when it exists; env DRIVER_LOADER_CONFIG)")
		logFormat  = fs.String("log-format", "console", "log format: console or json")
		logLevel   = fs.String("log-level", "info", "log level: debug, info, warn, error")
		mirrors    stringList
	)
	var cfg loader.Config
	set := map[string]func(){} // applied for the flags given, over file and environment
	str := func(name, usage string, to func(*loader.Config) *string) {
		v := fs.String(name, "", usage)
		set[name] = func() { *to(&cfg) = *v }
	}
	str("host-root", "where the host's root is mounted (a container mounting it at /host)", func(c *loader.Config) *string { return &c.HostRoot })
	str("kernel-release", "kernel release (default: detected, as uname -r)", func(c *loader.Config) *string { return &c.Platform.KernelRelease })
	str("arch", "architecture, x86_64 or aarch64 (default: detected)", func(c *loader.Config) *string { return &c.Platform.Arch })
	str("distribution", "distribution, e.g. ubuntu (default: from os-release)", func(c *loader.Config) *string { return &c.Platform.Distribution })
	str("distro-version", "distribution version, e.g. 24.04 or stream9 (default: from os-release)", func(c *loader.Config) *string { return &c.Platform.DistroVersion })
	str("driver-version", "driver release tag (default "+loader.DefaultDriverVersion+")", func(c *loader.Config) *string { return &c.DriverVersion })
	str("service-url", "build-service URL; without it a missing package is an error", func(c *loader.Config) *string { return &c.ServiceURL })
	str("service-token", "build-service bearer token (prefer --service-token-file or the environment)", func(c *loader.Config) *string { return &c.ServiceToken })
	str("service-token-file", "file holding the build-service bearer token", func(c *loader.Config) *string { return &c.ServiceTokenFile })
	str("release-url", "prefix before /{driver_version}/{package} (default https://github.com/{repository}/releases/download)", func(c *loader.Config) *string { return &c.ReleaseURL })
	str("repository", "GitHub owner/repo of the releases (default "+loader.DefaultRepository+")", func(c *loader.Config) *string { return &c.Repository })
	str("github-token-file", "file holding a token for a private repository's releases", func(c *loader.Config) *string { return &c.GitHubTokenFile })
	str("github-api-url", "GitHub Enterprise Server API (https://HOST/api/v3) for a private repository's releases", func(c *loader.Config) *string { return &c.GitHubAPIURL })
	str("cache-dir", "where downloaded packages are kept (default "+loader.DefaultCacheDir+")", func(c *loader.Config) *string { return &c.CacheDir })
	mode := fs.String("mode", "", "host (package manager and modprobe) or container (extract and finit_module) (default host)")
	set["mode"] = func() { cfg.Mode = loader.Mode(*mode) }
	fs.Var(&mirrors, "mirror", "release mirror, tried after --release-url (repeatable)")
	set["mirror"] = func() { cfg.Mirrors = mirrors }
	timeout := fs.Duration("build-timeout", 0, "how long to wait for a build (default 20m)")
	set["build-timeout"] = func() { cfg.BuildTimeout = *timeout }
	downloadTimeout := fs.Duration("download-timeout", 0, "how long one package download may take, retries included (default 10m)")
	set["download-timeout"] = func() { cfg.DownloadTimeout = *downloadTimeout }
	minRate := fs.Int64("download-min-rate", 0, "least bytes a second a download must average over 30 s (default 1024)")
	set["download-min-rate"] = func() { cfg.DownloadMinRate = *minRate }
	replace := fs.Bool("replace", false, "unload another loaded version of the driver and load this one")
	set["replace"] = func() { cfg.Replace = *replace }
	dryRun := fs.Bool("dry-run", false, "do everything except install or load, and print what would be done")
	set["dry-run"] = func() { cfg.DryRun = *dryRun }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return loader.ExitOK
		}
		return loader.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "driver-loader takes no arguments, got %q\n", fs.Args())
		return loader.ExitUsage
	}
	log, err := logger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return loader.ExitUsage
	}
	ctx = log.WithContext(ctx)

	cfg = loader.Defaults()
	if err := loadConfigFile(&cfg, *configFile, lookupEnv); err != nil {
		return fail(log, loader.UsageError(err))
	}
	cfg.ApplyEnv(lookupEnv)
	fs.Visit(func(f *flag.Flag) {
		if apply, ok := set[f.Name]; ok {
			apply()
		}
	})
	if err := cfg.Finish(); err != nil {
		return fail(log, loader.UsageError(err))
	}

	l := loader.New(cfg, stdout)
	if prepare != nil {
		prepare(l)
	}
	if err := l.Run(ctx); err != nil {
		return fail(log, err)
	}
	return loader.ExitOK
}

// loadConfigFile reads the file named by the flag or DRIVER_LOADER_CONFIG,
// or the default file when it exists.
func loadConfigFile(cfg *loader.Config, path string, lookupEnv func(string) (string, bool)) error {
	if path == "" {
		path, _ = lookupEnv("DRIVER_LOADER_CONFIG")
	}
	if path != "" {
		return cfg.LoadFile(path)
	}
	err := cfg.LoadFile(loader.DefaultConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func logger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: accepted are debug, info, warn and error", level)
	}
	switch format {
	case "json":
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
	case "console":
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}).Level(lvl).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("--log-format %q: accepted are console and json", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func fail(log zerolog.Logger, err error) int {
	code := loader.ExitCode(err)
	log.Error().Err(err).Int("exit_code", code).Msg("driver-loader failed")
	return code
}
