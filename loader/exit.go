package loader

import "errors"

// Exit codes of driver-loader; docs/driver-loader.md lists them too.
const (
	ExitOK          = 0 // the driver is loaded (or, with --dry-run, would be)
	ExitError       = 1 // anything else: cache dir, interrupted, unexpected errors
	ExitUsage       = 2 // bad flags, config file or environment
	ExitUnsupported = 3 // the distribution, version, kernel or architecture is not supported
	ExitUnavailable = 4 // no package: not in the release, no service to build it, or the build failed
	ExitRejected    = 5 // the package failed verification: digest, archive checks, architecture or vermagic
	ExitLoad        = 6 // installing or loading failed, or another version is loaded and --replace was not given
)

// exitError carries the exit code of a failure up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// ExitCode is the process exit code for the error Run returned; an error
// without a code (an interrupted run among them) is ExitError.
func ExitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return e.code
	}
	return ExitError
}

// UsageError marks a configuration mistake (exit code 2).
func UsageError(err error) error { return withCode(ExitUsage, err) }
