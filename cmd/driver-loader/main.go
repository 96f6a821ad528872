// driver-loader loads the riptides driver for the running kernel: it
// detects the platform, downloads the matching package (asking the
// build-service to build it when the release lacks it), verifies it and
// loads its modules. See docs/driver-loader.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, nil)
	stop()
	os.Exit(code)
}
