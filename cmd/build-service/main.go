// Command build-service is the driverbuild GitHub App: it builds kernel
// drivers on demand for driver-loaders.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"net"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "build-service:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath    = flag.String("config", "", "config file (default ./config.yml when present)")
		listen        = flag.String("listen", ":8080", "address to serve on")
		dev           = flag.Bool("dev", false, "run with an embedded store and an in-process simulated GitHub")
		buildDuration = flag.Duration("dev-build-duration", 20*time.Second, "how long a simulated build takes in -dev mode")
		logFormat     = flag.String("log-format", "console", "console or json")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -help", flag.Args())
	}

	var log zerolog.Logger
	switch *logFormat {
	case "console":
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	case "json":
		log = zerolog.New(os.Stderr).With().Timestamp().Logger()
	default:
		return fmt.Errorf("-log-format %q: accepted are console and json", *logFormat)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = log.WithContext(ctx)

	if *dev {
		return app.RunDev(ctx, *listen, *buildDuration, os.Stdout)
	}
	path := *configPath
	if path == "" {
		if _, err := os.Stat("config.yml"); err == nil {
			path = "config.yml"
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, ln)
}
