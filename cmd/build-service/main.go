// Command build-service is the driverbuild GitHub App: it builds kernel
// drivers on demand for driver-loaders.
//
//	build-service [flags]        serve
//	build-service setup [flags]  create the GitHub App, write config.yml
//	build-service hash-token     print the hash api.clients keeps of a token read on stdin
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/appsetup"
	"github.com/riptides/driverbuild/ghclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var cmd string
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	var err error
	switch cmd {
	case "setup":
		err = setup(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case "hash-token":
		err = hashToken(os.Args[2:], os.Stdin, os.Stdout)
	default:
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-service:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		// No file is read unless named: a config.yml that happens to be in
		// the working directory (the repository's example, say) must not
		// change what a service started from the environment does.
		configPath    = fs.String("config", "", "config file; without it, the defaults and the environment")
		listen        = fs.String("listen", ":8080", "address to serve on")
		dev           = fs.Bool("dev", false, "run with an embedded store and an in-process simulated GitHub")
		buildDuration = fs.Duration("dev-build-duration", 20*time.Second, "how long a simulated build takes in -dev mode")
		logFormat     = fs.String("log-format", "auto", "console, json, or auto: console on a terminal, json otherwise")
		logLevel      = fs.String("log-level", "info", "debug, info, warn or error")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: build-service [flags]\n       build-service setup [flags]   create the GitHub App (setup -help)\n       build-service hash-token      hash a token read on stdin, for api.clients\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -help", fs.Args())
	}

	log, err := logger(stderr, *logFormat)
	if err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil || *logLevel == "" {
		return fmt.Errorf("-log-level %q: accepted are debug, info, warn and error", *logLevel)
	}
	log = log.Level(level)
	ctx = log.WithContext(ctx)

	if *dev {
		return app.RunDev(ctx, *listen, *buildDuration, stdout)
	}
	cfg, err := app.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, ln)
}

func setup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build-service setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		serviceURL = fs.String("url", "", "where GitHub will reach the build-service, such as https://driverbuild.example.com (required)")
		name       = fs.String("name", "driverbuild", "the App's name, unique on GitHub")
		org        = fs.String("org", "", "create the App in this organization (default: your own account)")
		webURL     = fs.String("github-url", "https://github.com/", "GitHub's web root (https://HOST/ for GitHub Enterprise Server)")
		apiURL     = fs.String("github-api-url", "", "GitHub's REST root (default https://api.github.com/, or https://HOST/api/v3/ with -github-url)")
		configPath = fs.String("config", "config.yml", "config file to write the App's id, key and webhook secret into (its other keys are kept)")
		listen     = fs.String("listen", "127.0.0.1:8000", "address of the page to open in your browser")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("setup: unexpected arguments %q; see setup -help", fs.Args())
	}
	if *serviceURL == "" {
		return errors.New("setup: -url is required: the address GitHub sends webhooks to, such as https://driverbuild.example.com")
	}
	if *apiURL == "" {
		*apiURL = ghclient.APIURLFor(*webURL)
	}
	o := appsetup.Options{
		WebURL: *webURL, APIURL: *apiURL, Org: *org, Name: *name, ServiceURL: *serviceURL,
		ConfigPath: *configPath, Out: stdout,
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	o.Listener = ln
	_, err = appsetup.Run(ctx, o)
	return err
}

func hashToken(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 {
		return errors.New("hash-token takes no arguments but reads the token on stdin, so that it stays out of the shell's history")
	}
	sum, err := appsetup.TokenHash(stdin)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, sum)
	return err
}

// logger writes JSON for log collectors, and the console format only to
// a person's terminal.
func logger(w io.Writer, format string) (zerolog.Logger, error) {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	}
	switch format {
	case "console":
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}).With().Timestamp().Logger(), nil
	case "json":
		return zerolog.New(w).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("-log-format %q: accepted are auto, console and json", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
