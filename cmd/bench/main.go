// Command bench measures the build-service's hot path against the issue's
// targets: go run ./cmd/bench SCENARIO [flags]. See BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/riptides/driverbuild/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: bench SCENARIO [flags], SCENARIO one of " + strings.Join(bench.Names(), ", ")
	if len(args) == 0 {
		return errors.New(usage)
	}
	name, args := args[0], args[1:]
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if name == "serve-bare" { // the bare handler, as its own process
		listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return bench.ServeBare(ctx, *listen)
	}
	o := bench.Options{Scenario: name}
	defaultPG := os.Getenv("TEST_DATABASE_URL")
	if defaultPG == "" {
		defaultPG = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	fs.StringVar(&o.DB, "db", "sqlite", "the service's store: sqlite or postgres")
	fs.StringVar(&o.PostgresURL, "postgres-url", defaultPG, "the Postgres server a fresh database is created on for -db postgres")
	fs.IntVar(&o.Runs, "runs", 1, "runs, each in a fresh environment; figures are their median, min and max")
	fs.DurationVar(&o.Duration, "duration", 0, "how long each side is driven (cached, status-latency, soak; 0: the scenario's default)")
	fs.IntVar(&o.Connections, "connections", 0, "client connections (cached, soak)")
	fs.IntVar(&o.Clients, "clients", 0, "clients at once (bootstorm, status-latency, api-calls)")
	fs.IntVar(&o.Builds, "builds", 0, "on-demand builds counted (api-calls)")
	fs.DurationVar(&o.BuildDuration, "build-duration", 0, "how long a simulated build takes")
	fs.DurationVar(&o.PollInterval, "poll-interval", 0, "the service's builds.poll_interval")
	fs.IntVar(&o.Finished, "finished", 0, "finished builds seeded (soak)")
	fs.IntVar(&o.Active, "active", 0, "active builds seeded (soak)")
	fs.StringVar(&o.ServiceURL, "service", "", "target this running build-service instead of starting one (with -ghsim)")
	fs.StringVar(&o.GhsimURL, "ghsim", "", "the ghsim the running service uses")
	fs.StringVar(&o.Relay, "relay", "", "status-latency against a running ghsim: listen here for its webhooks (point its -webhook-url at http://ADDR/api/github/hook)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; %s", fs.Args(), usage)
	}
	_, err := bench.Run(ctx, o, stdout, stderr)
	return err
}
