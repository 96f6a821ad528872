package kmod

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrExists is a module the kernel already has (EEXIST from finit_module).
var ErrExists = errors.New("module already loaded")

// Load calls finit_module on the file.
func (System) Load(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("finit_module %s: %w", file, ErrExists)
		}
		return fmt.Errorf("finit_module %s: %w", file, err)
	}
	return nil
}

// Unload calls delete_module without waiting for users to go away: a
// module in use makes it fail with EWOULDBLOCK rather than hang.
func (System) Unload(name string) error {
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("delete_module %s: %w", name, err)
	}
	return nil
}
