package builds

import (
	"context"
	"sync"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
)

// assetCache is this process's copy of the asset index, so that a request
// for a package that exists costs no database read. It is loaded from the
// database and reloaded, one release at a time, whenever a committed
// transaction changed that release's assets: this process's own writes (a
// release webhook, a refresh, a build's end) and, through
// store.AssetChanges, any replica's. A miss proves nothing: the caller
// reads the database, so a copy that lags can only be slower, never build
// a package that exists. A hit that lags is a package deleted in the last
// moments, which a loader's download then finds gone.
type assetCache struct {
	mu    sync.RWMutex
	byTag map[string]map[string]store.Asset
	// loading makes loads take turns, so that an older read of a release
	// never replaces a newer one.
	loading sync.Mutex
}

type assetReader interface {
	ReleaseTags(ctx context.Context) ([]string, error)
	AssetsOfTag(ctx context.Context, tag string) ([]store.Asset, error)
}

func (c *assetCache) get(tag, name string) (store.Asset, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.byTag[tag][name]
	return a, ok
}

// lookup finds a package where assetOf would.
func (c *assetCache) lookup(driverVersion, pkg string) (store.Asset, bool) {
	tag := kernel.ReleaseTag(driverVersion, pkg)
	a, ok := c.get(tag, pkg)
	if !ok && tag != driverVersion {
		a, ok = c.get(driverVersion, pkg)
	}
	return a, ok
}

// load reads one release's assets, or every release's for tag "". The
// release is forgotten first, so that a read that fails leaves misses,
// not what the database may no longer hold.
func (c *assetCache) load(ctx context.Context, q assetReader, tag string) error {
	c.loading.Lock()
	defer c.loading.Unlock()
	c.mu.Lock()
	if tag == "" || c.byTag == nil {
		c.byTag = map[string]map[string]store.Asset{}
	}
	delete(c.byTag, tag)
	c.mu.Unlock()

	tags := []string{tag}
	if tag == "" {
		var err error
		if tags, err = q.ReleaseTags(ctx); err != nil {
			return err
		}
	}
	for _, t := range tags {
		list, err := q.AssetsOfTag(ctx, t)
		if err != nil {
			return err
		}
		m := make(map[string]store.Asset, len(list))
		for _, a := range list {
			m[a.Name] = a
		}
		c.mu.Lock()
		c.byTag[t] = m
		c.mu.Unlock()
	}
	return nil
}

// assetsChanged reloads a release whose assets a committed transaction
// changed ("" for all).
func (s *Service) assetsChanged(ctx context.Context, tag string) {
	if err := s.assets.load(context.WithoutCancel(ctx), s.store, tag); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("tag", tag).Msg("reload the asset index; its requests read the database meanwhile")
	}
}

// LoadAssets fills the in-memory asset index from the database.
func (s *Service) LoadAssets(ctx context.Context) error {
	return s.assets.load(ctx, s.store, "")
}

// WatchAssets keeps the in-memory asset index coherent with what other
// replicas write, until ctx ends.
func (s *Service) WatchAssets(ctx context.Context) error {
	return s.store.AssetChanges(ctx, func(tag string) { s.assetsChanged(ctx, tag) })
}
