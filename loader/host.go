package loader

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
)

// Commander runs programs; SystemExec is the real one.
type Commander interface {
	LookPath(file string) (string, error)
	// Run runs a program and returns its combined output.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// SystemExec runs programs on this system, non-interactively.
type SystemExec struct{}

var _ Commander = SystemExec{}

// LookPath is exec.LookPath.
func (SystemExec) LookPath(file string) (string, error) { return exec.LookPath(file) }

// Run runs name with args; package managers are told not to ask.
func (SystemExec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

// installCommand installs a local package file with the system's package
// manager: apt-get (which resolves dependencies) or dpkg for a .deb; dnf,
// or rpm where dnf is absent, for an .rpm.
func installCommand(x Commander, f kernel.Format, file string) ([]string, error) {
	have := func(p string) bool { _, err := x.LookPath(p); return err == nil }
	switch {
	case f == kernel.FormatDeb && have("apt-get"):
		// At boot unattended-upgrades may hold dpkg's lock: wait for it
		// rather than fail with exit code 6, which is not retried.
		return []string{"apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades", "-o", "DPkg::Lock::Timeout=300", file}, nil
	case f == kernel.FormatDeb && have("dpkg"):
		return []string{"dpkg", "-i", file}, nil
	case f == kernel.FormatRPM && have("dnf"):
		return []string{"dnf", "install", "-y", file}, nil
	case f == kernel.FormatRPM && have("rpm"):
		return []string{"rpm", "-U", "--replacepkgs", "--oldpackage", file}, nil
	}
	return nil, fmt.Errorf("no package manager for a .%s: need apt-get or dpkg for .deb, dnf or rpm for .rpm (or use --mode container)", f)
}

// loadHost installs the package, refreshes module dependencies and
// modprobes the modules that are not loaded yet.
func (l *Loader) loadHost(ctx context.Context, file string, f kernel.Format, release string, mods []*module) error {
	install, err := installCommand(l.Exec, f, file)
	if err != nil {
		return err
	}
	cmds := [][]string{install, {"depmod", "-a", release}}
	for _, m := range mods {
		switch {
		case m.skip:
			l.report(ctx, m, "already loaded at this version; leaving it")
			continue
		case m.replace:
			l.report(ctx, m, fmt.Sprintf("replacing loaded version %s", orUnknown(m.loaded.Version)))
			cmds = append(cmds, []string{"modprobe", "-r", "--", m.info.Name})
		}
		// The name comes from the package: -- keeps it from being an option.
		cmds = append(cmds, []string{"modprobe", "--", m.info.Name})
	}
	for _, c := range cmds {
		if l.Config.DryRun {
			l.sayf("would run: %s", strings.Join(c, " "))
			continue
		}
		zerolog.Ctx(ctx).Info().Strs("command", c).Msg("running")
		out, err := l.Exec.Run(ctx, c[0], c[1:]...)
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if !l.Config.DryRun {
		zerolog.Ctx(ctx).Info().Strs("modules", names(mods)).Msg("driver installed and loaded")
	}
	return nil
}

// report says what happens to a module: a log line, and in a dry run a
// line of the report.
func (l *Loader) report(ctx context.Context, m *module, what string) {
	zerolog.Ctx(ctx).Info().Str("module", m.info.Name).Str("version", m.info.Version).Msg(what)
	if l.Config.DryRun {
		l.sayf("module %s %s: %s", m.info.Name, m.info.Version, what)
	}
}
