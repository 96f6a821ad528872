package qemu

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/riptides/driverbuild/loader/kmod"
)

// CurrentRelease is the kernel release Debian's linux-image-FLAVOUR
// metapackage depends on today, such as 6.1.0-57-amd64 for "amd64".
func CurrentRelease(ctx context.Context, flavour string) (string, error) {
	meta := "linux-image-" + flavour
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w", meta, err)
	}
	return DependedRelease(out, flavour)
}

// DependedRelease reads the release out of `apt-cache depends
// linux-image-FLAVOUR`.
func DependedRelease(aptCacheDepends []byte, flavour string) (string, error) {
	// VERSION-ABI-FLAVOUR (6.1.0-57-amd64) or, in backports,
	// VERSION+debN-FLAVOUR: with nothing between the ABI and the flavour,
	// amd64 does not take cloud-amd64's image.
	m := regexp.MustCompile(`(?m)^\s*Depends: linux-image-([0-9][0-9.]*(?:-[0-9]+|\+[a-z0-9]+)-` + regexp.QuoteMeta(flavour) + `)$`).FindSubmatch(aptCacheDepends)
	if m == nil {
		return "", fmt.Errorf("apt-cache depends linux-image-%s names no linux-image-*-%s:\n%s", flavour, flavour, aptCacheDepends)
	}
	return string(m[1]), nil
}

// Kernel is an unpacked linux-image package.
type Kernel struct {
	Release string
	Image   string // vmlinuz
	Modules string // lib/modules/<release>
}

// FetchKernel downloads linux-image-<release> with apt into dir and
// unpacks it there; nothing is installed on this machine.
func FetchKernel(ctx context.Context, release, dir string) (Kernel, error) {
	pkg := "linux-image-" + release
	cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("apt-get download %s: %w\n%s", pkg, err, out)
	}
	debs, err := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if err != nil || len(debs) != 1 {
		return Kernel{}, fmt.Errorf("apt-get download %s left %d packages in %s", pkg, len(debs), dir)
	}
	root := filepath.Join(dir, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("dpkg-deb -x %s: %w\n%s", debs[0], err, out)
	}
	k := Kernel{
		Release: release,
		Image:   filepath.Join(root, "boot", "vmlinuz-"+release),
		Modules: filepath.Join(root, "lib", "modules", release),
	}
	if _, err := os.Stat(k.Image); err != nil {
		return Kernel{}, fmt.Errorf("%s holds no kernel image: %w", pkg, err)
	}
	return k, nil
}

// ModuleFiles are the files of the named modules and of every module they
// depend on, in an order insmod can load them: dependencies first. The
// package has no modules.dep (depmod writes it on install), so the
// dependencies come from each module's modinfo.
func (k Kernel) ModuleFiles(names ...string) ([]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(k.Modules, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ko") {
			files[kmod.NameFromFile(p)] = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var order []string
	seen := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		name = strings.ReplaceAll(name, "-", "_")
		if seen[name] {
			return nil
		}
		seen[name] = true
		file, ok := files[name]
		if !ok {
			return fmt.Errorf("%s has no module %s", k.Modules, name)
		}
		info, err := kmod.ParseFile(file)
		if err != nil {
			return err
		}
		for _, dep := range info.Depends {
			if err := visit(dep); err != nil {
				return err
			}
		}
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Static reports whether file is a statically linked executable, as
// everything in the guest must be: it has no libc. A dynamic one names its
// loader in a PT_INTERP header.
func Static(file string) (bool, error) {
	f, err := elf.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
