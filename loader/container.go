package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/loader/kmod"
)

// loadContainer loads the extracted modules straight into the kernel with
// finit_module; the host's package database is not touched.
func (l *Loader) loadContainer(ctx context.Context, work string, mods []*module) error {
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
		file, err := uncompressed(work, m)
		if err != nil {
			return err
		}
		err = l.Kernel.Load(file)
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

// uncompressed is a file finit_module can take: the module itself, or its
// decompressed image written beside it.
func uncompressed(work string, m *module) (string, error) {
	if strings.HasSuffix(m.file, ".ko") {
		return m.file, nil
	}
	file := filepath.Join(work, m.info.Name+".ko")
	if err := os.WriteFile(file, m.image, 0o600); err != nil {
		return "", fmt.Errorf("decompress %s: %w", m.rel, err)
	}
	return file, nil
}
