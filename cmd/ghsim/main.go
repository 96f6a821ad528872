// Command ghsim serves a simulated GitHub for the build-service and the
// driver-loader: app authentication, a git repository, releases,
// driver-build runs (simulated, or a real -runner-command) and signed
// webhooks, with faults at random for chaos tests. With -write-config it
// writes a build-service config.yml that points at it, holding the
// simulator's fresh app key and webhook secret.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/ghsim"
	"github.com/riptides/driverbuild/kernel"
)

type options struct {
	listen      string
	writeConfig string
	verbose     bool
}

func main() {
	cfg, opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ghsim:", err)
		os.Exit(2)
	}
	level := zerolog.InfoLevel
	if opts.verbose {
		level = zerolog.DebugLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).Level(level).With().Timestamp().Logger()
	cfg.Logger = &log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ghsim.ListenAndServe(ctx, opts.listen, cfg, opts.writeConfig); err != nil {
		log.Error().Err(err).Msg("ghsim")
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (ghsim.Config, options, error) {
	var (
		cfg            ghsim.Config
		opts           options
		repo, releases string
		failKernels    string
		failChecks     string
		kernelsJSON    string
		placeholders   bool
		fs             = flag.NewFlagSet("ghsim", flag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.listen, "listen", "127.0.0.1:9000", "address to serve on")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "http://127.0.0.1:8080/api/github/hook", "where to deliver the app's webhooks (empty: none)")
	fs.StringVar(&repo, "repo", "riptides/driver", "the simulated repository, OWNER/NAME")
	fs.StringVar(&releases, "releases", strings.Join(ghsim.DefaultReleases, ","), "comma-separated release tags to create at start (\"\" for none)")
	fs.DurationVar(&cfg.BuildDuration, "build-duration", 20*time.Second, "how long a simulated build takes")
	fs.StringVar(&failKernels, "fail-kernels", "", "regular expression of kernel versions whose builds fail")
	fs.BoolVar(&cfg.RejectRunDetails, "reject-run-details", false, "answer dispatches asking for return_run_details with 422, as GitHub did before February 2026")
	fs.StringVar(&failChecks, "fail-checks", "", "regular expression of branches whose pull requests' validate-kernels check fails")
	fs.DurationVar(&cfg.CheckDuration, "check-duration", 2*time.Second, "how long the validate-kernels check of a pull request head takes")
	fs.StringVar(&cfg.RequiredChecksIn, "required-checks-in", ghsim.RequiredInProtection, "where main requires validate-kernels: protection, rulesets or none")
	fs.IntVar(&cfg.RequiredReviews, "required-reviews", 0, "approving reviews main requires before a merge, where it requires checks (not with -required-checks-in none), given through POST /_sim/pulls/{pull_number}/approve")
	fs.StringVar(&kernelsJSON, "kernels-json", "", "the default branch's initial .github/kernels.json, from `FILE` (default: the repository's own)")
	fs.BoolVar(&placeholders, "placeholder-packages", false, "upload a line of text as each built package instead of a real .deb or .rpm (no loader can install it)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", 5000, "API requests per hour per installation (and for the app's JWT); past it GitHub's 403 with X-RateLimit-Remaining: 0")
	fs.Float64Var(&cfg.Chaos.DropWebhooks, "drop-webhooks", 0, "probability `P` that a webhook delivery fails as if the receiver were down (recorded as failed, so redelivery finds it)")
	fs.Float64Var(&cfg.Chaos.DuplicateWebhooks, "duplicate-webhooks", 0, "probability `P` that a webhook is delivered twice, under one delivery id")
	fs.BoolVar(&cfg.Chaos.ReorderWebhooks, "reorder-webhooks", false, "let a run's webhooks overtake each other within "+ghsim.ReorderWindow.String())
	fs.DurationVar(&cfg.Chaos.DelayWebhooks, "delay-webhooks", 0, "hold each webhook back `D` after its event")
	fs.Float64Var(&cfg.Chaos.APIErrorRate, "api-error-rate", 0, "probability `P` that an API request is answered 500, 502 or 503 without being carried out")
	fs.Float64Var(&cfg.Chaos.SecondaryLimitRate, "secondary-limit-rate", 0, "probability `P` that an API request is refused with GitHub's 403 secondary rate limit")
	fs.DurationVar(&cfg.Chaos.SecondaryRetryAfter, "secondary-retry-after", time.Minute, "the Retry-After of those refusals, in whole seconds")
	fs.Float64Var(&cfg.Chaos.DispatchAmbiguous, "dispatch-ambiguous", 0, "probability `P` that a workflow dispatch creates its run, then answers 502")
	fs.Uint64Var(&cfg.Chaos.Seed, "seed", 0, "seed of the random faults, to repeat a run (0: random)")
	fs.StringVar(&cfg.RunnerCommand, "runner-command", "", "run `CMD` (with /bin/sh -c) for each dispatched build instead of simulating it; see the README")
	fs.StringVar(&opts.writeConfig, "write-config", "", "write a build-service config.yml for this simulator to `FILE`, then serve")
	fs.BoolVar(&opts.verbose, "v", false, "log debug detail")
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return cfg, opts, fmt.Errorf("-repo %q: want OWNER/NAME", repo)
	}
	cfg.Owner, cfg.Repo = owner, name
	for tag := range strings.SplitSeq(releases, ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			cfg.Releases = append(cfg.Releases, tag)
		}
	}
	if cfg.BuildDuration <= 0 {
		return cfg, opts, fmt.Errorf("-build-duration %v: want a positive duration", cfg.BuildDuration)
	}
	if cfg.RateLimit <= 0 {
		return cfg, opts, fmt.Errorf("-rate-limit %d: want a positive number of requests per hour", cfg.RateLimit)
	}
	if err := cfg.Chaos.Validate(); err != nil {
		return cfg, opts, fmt.Errorf("-%w", err)
	}
	if failKernels != "" {
		re, err := regexp.Compile(failKernels)
		if err != nil {
			return cfg, opts, fmt.Errorf("-fail-kernels: %w", err)
		}
		cfg.FailKernels = re
	}
	if failChecks != "" {
		re, err := regexp.Compile(failChecks)
		if err != nil {
			return cfg, opts, fmt.Errorf("-fail-checks: %w", err)
		}
		cfg.FailChecks = re
	}
	if cfg.CheckDuration <= 0 {
		return cfg, opts, fmt.Errorf("-check-duration %s: want a positive duration", cfg.CheckDuration)
	}
	if kernelsJSON != "" {
		data, err := os.ReadFile(kernelsJSON)
		if err != nil {
			return cfg, opts, fmt.Errorf("-kernels-json: %w", err)
		}
		cfg.KernelsJSON = data
	}
	if placeholders {
		cfg.Artifact = ghsim.PlaceholderArtifact(kernel.DefaultCatalog(), kernel.DefaultNaming())
	}
	return cfg, opts, nil
}
