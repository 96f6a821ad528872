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
	// forgotten counts each release's forgets: a read that a forget
	// followed is not stored, the load after that forget stores its own.
	forgotten map[string]uint64
	all       uint64 // forgets of every release
	// loading makes loads take turns.
	loading sync.Mutex
}

// forget drops a release ("" all) until it is loaded again: from then on
// its requests read the database, until a read newer than the change is in.
func (c *assetCache) forget(tag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgotten == nil {
		c.forgotten = map[string]uint64{}
	}
	if tag == "" || c.byTag == nil {
		c.byTag = map[string]map[string]store.Asset{}
		c.all++
		return
	}
	delete(c.byTag, tag)
	c.forgotten[tag]++
}

// generation says which forgets a read of tag comes after.
func (c *assetCache) generation(tag string) (uint64, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.all, c.forgotten[tag]
}

type assetReader interface {
	ReleaseTags(ctx context.Context) ([]string, error)
	AssetsOfTag(ctx context.Context, tag string) ([]store.Asset, error)
}

// loaded says whether a release is in, read after its last forget.
func (c *assetCache) loaded(tag string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.byTag[tag]
	return ok
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

// load reads one release's assets, or every release's for tag "", into
// what forget dropped. A read that a forget of its release followed is
// dropped: a later load reads again.
func (c *assetCache) load(ctx context.Context, q assetReader, tag string) error {
	c.loading.Lock()
	defer c.loading.Unlock()
	tags := []string{tag}
	if tag == "" {
		var err error
		if tags, err = q.ReleaseTags(ctx); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if tag != "" && c.loaded(t) {
			// A load that waited its turn behind one that read after
			// the last forget: nothing is newer to read.
			continue
		}
		all, mine := c.generation(t)
		list, err := q.AssetsOfTag(ctx, t)
		if err != nil {
			return err
		}
		m := make(map[string]store.Asset, len(list))
		for _, a := range list {
			m[a.Name] = a
		}
		c.mu.Lock()
		if c.all == all && c.forgotten[t] == mine && c.byTag != nil {
			c.byTag[t] = m
		}
		c.mu.Unlock()
	}
	return nil
}

// assetsChanged forgets a release whose assets a committed transaction
// changed ("" for all) at once, and reads it again in the background: the
// caller (a webhook, a build's end) does not wait on the read.
func (s *Service) assetsChanged(ctx context.Context, tag string) {
	s.assets.forget(tag)
	s.Go(ctx, func(ctx context.Context) {
		if err := s.assets.load(ctx, s.store, tag); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("tag", tag).Msg("reload the asset index; its requests read the database meanwhile")
		}
	})
}

// LoadAssets fills the in-memory asset index from the database.
func (s *Service) LoadAssets(ctx context.Context) error {
	s.assets.forget("")
	return s.assets.load(ctx, s.store, "")
}

// WatchAssets keeps the in-memory asset index coherent with what other
// replicas write, until ctx ends.
func (s *Service) WatchAssets(ctx context.Context) error {
	return s.store.AssetChanges(ctx, func(tag string) { s.assetsChanged(ctx, tag) })
}
