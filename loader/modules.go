package loader

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/loader/kmod"
)

// module is one module of the package and what to do with it.
type module struct {
	file string // the uncompressed module, for finit_module
	rel  string // its path inside the package, for messages
	info kmod.Info

	loaded  *kmod.Loaded // what the kernel has under this name, if anything
	replace bool         // unload loaded first
	skip    bool         // already loaded at this version
}

// inspect reads every module extracted into pkgDir and refuses any that
// was not built for the running kernel and architecture. Compressed
// modules are decompressed into koDir, so that only one module at a time
// is in memory, and only its .modinfo.
func inspect(files []string, pkgDir, koDir string, req kernel.Request) ([]*module, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no kernel module (.ko) in the package")
	}
	var mods []*module
	seen := map[string]string{}
	for i, f := range files {
		rel, _ := filepath.Rel(pkgDir, f)
		file, err := kmod.Uncompressed(f, filepath.Join(koDir, strconv.Itoa(i)+".ko"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		info, err := kmod.ParseFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if err := info.Check(req.KernelVersion, req.Architecture); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if other, ok := seen[info.Name]; ok {
			return nil, fmt.Errorf("%s and %s are both module %s", other, rel, info.Name)
		}
		seen[info.Name] = rel
		mods = append(mods, &module{file: file, rel: rel, info: info})
	}
	return order(mods), nil
}

// order puts every module after the package's modules it depends on, so
// that finit_module finds their symbols; a cycle keeps package order.
func order(mods []*module) []*module {
	byName := map[string]*module{}
	for _, m := range mods {
		byName[m.info.Name] = m
	}
	var out []*module
	state := map[*module]int{} // 1 visiting, 2 done
	var visit func(m *module)
	visit = func(m *module) {
		if state[m] != 0 {
			return
		}
		state[m] = 1
		for _, d := range m.info.Depends {
			if dep, ok := byName[d]; ok {
				visit(dep)
			}
		}
		state[m] = 2
		out = append(out, m)
	}
	for _, m := range mods {
		visit(m)
	}
	return out
}

// plan compares each module with what the kernel has loaded: the same
// version is left alone, another one is replaced only with --replace.
func (l *Loader) plan(mods []*module) error {
	for _, m := range mods {
		loaded, ok, err := l.Kernel.Loaded(m.info.Name)
		if err != nil {
			return fmt.Errorf("is %s loaded: %w", m.info.Name, err)
		}
		if !ok {
			continue
		}
		m.loaded = &loaded
		switch {
		case sameVersion(loaded, m.info):
			m.skip = true
		case loaded.Builtin:
			return fmt.Errorf("%s is built into the kernel (version %q) and cannot be replaced by %s", m.info.Name, loaded.Version, m.info.Version)
		case !l.Config.Replace:
			return fmt.Errorf("%s %s is loaded and the package has %s: rerun with --replace to unload it and load %s", m.info.Name, orUnknown(loaded.Version), m.info.Version, m.info.Version)
		default:
			m.replace = true
		}
	}
	return nil
}

func sameVersion(l kmod.Loaded, i kmod.Info) bool {
	if l.Version != i.Version {
		return false
	}
	// srcversion tells apart two builds that claim the same version.
	return l.SrcVersion == "" || i.SrcVersion == "" || l.SrcVersion == i.SrcVersion
}

func orUnknown(v string) string {
	if v == "" {
		return "(no version)"
	}
	return v
}

func names(mods []*module) []string {
	var out []string
	for _, m := range mods {
		out = append(out, m.info.Name)
	}
	return out
}
