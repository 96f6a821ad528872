package kmod

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Loaded is a module the kernel has loaded.
type Loaded struct {
	Name       string
	Version    string // empty when the module declares none
	SrcVersion string
	Builtin    bool // compiled into the kernel: it cannot be replaced
}

// Kernel is what loading needs from the kernel; System is the real one.
type Kernel interface {
	// Loaded reports the module of that name, if the kernel has one.
	Loaded(name string) (Loaded, bool, error)
	// Load loads an uncompressed module file (finit_module).
	Load(file string) error
	// Unload removes a module (delete_module).
	Unload(name string) error
}

// System is the running kernel: sysfs for what is loaded, the
// finit_module and delete_module system calls for the rest.
type System struct {
	// SysFS is where sysfs is mounted; empty means /sys.
	SysFS string
}

var _ Kernel = System{}

// Loaded reads /sys/module/<name>: a loaded module has an initstate file,
// a built-in one has none, and either may have version and srcversion.
func (s System) Loaded(name string) (Loaded, bool, error) {
	if err := ValidName(name); err != nil {
		return Loaded{}, false, err
	}
	dir := filepath.Join(cmp.Or(s.SysFS, "/sys"), "module", name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return Loaded{}, false, nil
	} else if err != nil {
		return Loaded{}, false, err
	}
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f)) // a missing attribute reads as empty
		return strings.TrimSpace(string(b))
	}
	m := Loaded{Name: name, Version: read("version"), SrcVersion: read("srcversion")}
	if _, err := os.Stat(filepath.Join(dir, "initstate")); errors.Is(err, fs.ErrNotExist) {
		// Parameters of built-in code show up in /sys/module too; without
		// a version there is nothing there that behaves like our module.
		if m.Version == "" && m.SrcVersion == "" {
			return Loaded{}, false, nil
		}
		m.Builtin = true
	}
	return m, true, nil
}
