package loader

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/loader/kmod"
)

// loadContainer loads the extracted modules straight into the kernel with
// finit_module; the host's package database is not touched.
func (l *Loader) loadContainer(ctx context.Context, mods []*module) error {
	log := zerolog.Ctx(ctx)
	for _, m := range mods {
		if m.skip {
			l.report(ctx, m, "already loaded at this version; leaving it")
			continue
		}
		if m.replace {
			l.report(ctx, m, fmt.Sprintf("replacing loaded version %s", orUnknown(m.loaded.Version)))
			if !l.Config.DryRun {
				if err := l.Kernel.Unload(m.info.Name); err != nil {
					return fmt.Errorf("unload %s %s: %w", m.info.Name, orUnknown(m.loaded.Version), err)
				}
			}
		}
		if l.Config.DryRun {
			l.sayf("would load: %s %s from %s with finit_module", m.info.Name, m.info.Version, m.rel)
			continue
		}
		err := l.Kernel.Load(m.file)
		if errors.Is(err, kmod.ErrExists) {
			// Something loaded it between our look and our load.
			log.Warn().Str("module", m.info.Name).Msg("module appeared while loading; leaving the loaded one")
			continue
		}
		if err != nil {
			return fmt.Errorf("load %s: %w", m.rel, err)
		}
		log.Info().Str("module", m.info.Name).Str("version", m.info.Version).Msg("module loaded")
	}
	return nil
}
