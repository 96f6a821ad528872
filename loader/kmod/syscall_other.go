//go:build !linux

package kmod

import "errors"

// ErrExists is a module the kernel already has.
var ErrExists = errors.New("module already loaded")

var errNotLinux = errors.New("loading kernel modules needs Linux")

// Load is only available on Linux.
func (System) Load(file string) error { return errNotLinux }

// Unload is only available on Linux.
func (System) Unload(name string) error { return errNotLinux }
