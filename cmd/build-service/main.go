// Command build-service is the driverbuild GitHub App: it builds kernel
// drivers on demand for driver-loaders.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
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
		logFormat     = fs.String("log-format", "console", "console or json")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -help", fs.Args())
	}

	var log zerolog.Logger
	switch *logFormat {
	case "console":
		log = zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	case "json":
		log = zerolog.New(stderr).With().Timestamp().Logger()
	default:
		return fmt.Errorf("-log-format %q: accepted are console and json", *logFormat)
	}
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
