// Package builds decides what happens to build requests and to what GitHub
// says about the runs that serve them. Handlers and jobs call it; it reads
// and writes through the store and talks to GitHub through a small
// interface.
package builds

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// GitHub is what the service asks of GitHub.
type GitHub interface {
	Dispatch(ctx context.Context, inputs map[string]string) (ghclient.RunRef, error)
	Run(ctx context.Context, id int64) (ghclient.Run, error)
	FindRun(ctx context.Context, since time.Time, match func(displayTitle string) bool) (ghclient.Run, bool, error)
	CancelRun(ctx context.Context, id int64) error
	Releases(ctx context.Context) ([]ghclient.Release, error)
	Assets(ctx context.Context, releaseID int64, etag string) ([]ghclient.Asset, string, bool, error)
	// Published looks for an asset and its .sha256 at their download URLs:
	// no API call. DownloadURL is where the asset is downloaded from.
	Published(ctx context.Context, tag, name string) (digest string, found bool, err error)
	DownloadURL(tag, name string) string
	Deliveries(ctx context.Context, since time.Time) ([]ghclient.Delivery, error)
	Redeliver(ctx context.Context, id int64) error
}

// Store is what the service reads and writes.
type Store interface {
	BuildByID(ctx context.Context, id string) (store.Build, error)
	BuildLatestByKey(ctx context.Context, cacheKey string) (store.Build, error)
	BuildTransition(ctx context.Context, p lifecycle.Transition) (store.Build, bool, error)
	BuildsStale(ctx context.Context, p store.BuildsStaleParams) ([]store.Build, error)
	BuildsOverdue(ctx context.Context, before time.Time, limit int) ([]store.Build, error)
	ReleaseByTag(ctx context.Context, tag string) (store.Release, error)
	ReleaseUpsert(ctx context.Context, r store.Release) error
	ReleaseTags(ctx context.Context) ([]string, error)
	ReleaseDelete(ctx context.Context, tag string) error
	AssetByName(ctx context.Context, tag, name string) (store.Asset, error)
	AssetsReplace(ctx context.Context, tag string, assets []store.Asset, listedAt time.Time) (kept bool, err error)
	AssetsOfTag(ctx context.Context, tag string) ([]store.Asset, error)
	AssetChanges(ctx context.Context, changed func(tag string)) error
	DeliverySeen(ctx context.Context, deliveryID string) (bool, error)
	DispatchLease(ctx context.Context, p store.DispatchLeaseParams) (store.DispatchLease, error)
	Clock(ctx context.Context) (time.Time, error)
	InTx(ctx context.Context, fn func(store.Tx) error) error
}

// Config holds the service's policy.
type Config struct {
	Catalog  *kernel.Catalog
	Naming   kernel.Naming
	Workflow string        // file name of the build workflow, e.g. driver-build.yml
	Cooldown time.Duration // a failed key is not rebuilt for this long
	Timeout  time.Duration // a dispatched build not finished after this is timed out
	// PollInterval is how long a build may hear nothing before it is
	// polled; a dispatch cut off by a crash is taken over within it.
	PollInterval time.Duration
	// RetryDelay is the least wait before a failed dispatch or package
	// check is tried again, times the attempt: long enough for GitHub to
	// list a run that an ambiguous failure (a timeout, a 502) may have
	// started after all, or an asset it has just taken.
	RetryDelay time.Duration
	// Events are the webhook events the service handles, which redelivery
	// asks GitHub to send again when they failed.
	Events []string
	// Budget, when set, is the API budget left: optional calls are skipped
	// while it is low.
	Budget *ghclient.Budget
	// OnFinish hears of every build this process ended, once the end is
	// committed: for metrics.
	OnFinish func(store.Build)
	// OnDone runs in the transaction that ends a build done, for work that
	// must be as durable as the end: the kernels.json proposal.
	OnDone func(ctx context.Context, tx store.Tx, b store.Build) error
	Now    func() time.Time
}

// Service is the build-service's core.
type Service struct {
	cfg   Config
	store Store
	gh    GitHub
	// indexed is set once the asset index has been filled from GitHub:
	// before that, a release we do not know may just be one not read yet.
	indexed    atomic.Bool
	assets     assetCache
	flight     singleflight.Group
	background background
}

// New returns a Service.
func New(cfg Config, st Store, gh GitHub) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnFinish == nil {
		cfg.OnFinish = func(store.Build) {}
	}
	if cfg.OnDone == nil {
		cfg.OnDone = func(context.Context, store.Tx, store.Build) error { return nil }
	}
	return &Service{cfg: cfg, store: st, gh: gh}
}

// ErrIndexNotReady means the release index has not been read from GitHub
// yet, so whether a driver version exists is not known.
var ErrIndexNotReady = errors.New("the release index has not been read from GitHub yet")

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Go runs f beside the caller, with ctx's values but not its end; f's
// context ends at Stop.
func (s *Service) Go(ctx context.Context, f func(context.Context)) { s.background.Go(ctx, f) }

// Stop cancels the service's background work (confirmations started by a
// webhook, reloads of the asset index, what Go started) and waits for it.
// The store and the jobs outlive it: what was cut short is retried by a
// job, on this replica or another.
func (s *Service) Stop() { s.background.Stop() }

// Kind says how a request was answered.
type Kind string

const (
	KindCached       Kind = "cached"       // the package exists
	KindMismatch     Kind = "mismatch"     // the package exists, built for another distro version
	KindDispatched   Kind = "dispatched"   // a new build was queued
	KindDeduplicated Kind = "deduplicated" // a build for the key is already active
	KindCooldown     Kind = "cooldown"     // the key's last build failed recently
)

// Outcome is the answer to a build request.
type Outcome struct {
	Kind    Kind
	Request kernel.Request // normalized
	Package string
	Asset   store.Asset // for cached and mismatch
	Build   store.Build // for dispatched, deduplicated and cooldown
	RetryAt time.Time   // for cooldown: when the key may be built again
}

// Request answers a build request: validate, serve an existing package,
// join an active build, refuse a recently failed key, or queue a new build
// together with the job that dispatches it. It makes no GitHub call.
func (s *Service) Request(ctx context.Context, raw kernel.Request) (Outcome, error) {
	req, err := s.cfg.Catalog.Normalize(raw)
	if err != nil {
		return Outcome{}, err
	}
	pkg, err := s.cfg.Catalog.PackageName(s.cfg.Naming, req)
	if err != nil {
		return Outcome{}, err
	}
	// A package that exists is found in memory, at no cost.
	if asset, found := s.assets.lookup(req.DriverVersion, pkg); found {
		return cachedOutcome(Outcome{Request: req, Package: pkg}, asset), nil
	}

	// Requests for one key that arrive together (a fleet booting on a new
	// kernel) share one trip to the database, which serves them in turn.
	// The trip is not cut short by the client that happened to lead it.
	led := false
	v, err, _ := s.flight.Do(req.CacheKey(), func() (any, error) {
		led = true
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), coalescedTimeout)
		defer cancel()
		return s.request(ctx, req, pkg)
	})
	if err != nil {
		return Outcome{}, err
	}
	out := v.(Outcome)
	if !led && out.Kind == KindDispatched {
		out.Kind = KindDeduplicated // the build is the leader's
	}
	return out, nil
}

// coalescedTimeout bounds a database trip that requests share.
const coalescedTimeout = 10 * time.Second

// endStampSlack widens "ended after the index was read" by what the
// stamps cannot tell apart: a build's end is stamped before its
// transaction commits (and, ending in ObserveRun, before its package is
// read), and by the clock of whichever replica ended it. Without it, a
// request that missed the package as it arrived could see the build
// already done, take the end for an older one, and build the kernel
// again. The cost of too much is nil: a package deleted in these seconds
// is answered from its build, and the loader's download finds it gone.
const endStampSlack = 2 * time.Second

func cachedOutcome(out Outcome, asset store.Asset) Outcome {
	out.Asset, out.Kind = asset, KindCached
	if asset.DistroVersion != "" && asset.DistroVersion != out.Request.DistroVersion {
		out.Kind = KindMismatch
	}
	return out
}

// request answers a request whose package is not in memory from the
// database.
func (s *Service) request(ctx context.Context, req kernel.Request, pkg string) (Outcome, error) {
	out := Outcome{Request: req, Package: pkg}
	// The asset first: when it exists, so does its release. A build that
	// ended about as the index was read answers the request (see
	// endStampSlack).
	indexReadAt := s.now().Add(-endStampSlack)
	asset, err := assetOf(ctx, s.store, req.DriverVersion, pkg)
	switch {
	case err == nil:
		return cachedOutcome(out, asset), nil
	case !errors.Is(err, store.ErrNotFound):
		return Outcome{}, fmt.Errorf("look up asset: %w", err)
	}
	rel, err := s.store.ReleaseByTag(ctx, req.DriverVersion)
	if err == nil && rel.RefreshedAt.IsZero() {
		// Known to exist, but its assets were never read: the package may
		// be there, and a build now could be a needless one.
		return Outcome{}, ErrIndexNotReady
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && !s.indexed.Load() {
			return Outcome{}, ErrIndexNotReady
		}
		if errors.Is(err, store.ErrNotFound) {
			return Outcome{}, &kernel.FieldError{Field: "driver_version", Msg: fmt.Sprintf("no release %s exists: a driver version must be a published release tag", req.DriverVersion)}
		}
		return Outcome{}, fmt.Errorf("look up release: %w", err)
	}

	key := req.CacheKey()
	last, err := s.store.BuildLatestByKey(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Outcome{}, fmt.Errorf("look up build: %w", err)
	case last.Status.Active():
		out.Build, out.Kind = last, KindDeduplicated
		return out, nil
	case last.Status == lifecycle.StatusError && s.now().Sub(last.FinishedAt) < s.cfg.Cooldown:
		out.Build, out.Kind, out.RetryAt = last, KindCooldown, last.FinishedAt.Add(s.cfg.Cooldown)
		return out, nil
	}

	id, err := uuid.NewV7()
	if err != nil {
		return Outcome{}, fmt.Errorf("build id: %w", err)
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		b, created, err := tx.BuildCreate(ctx, store.BuildCreateParams{
			ID: id.String(), CacheKey: key, Request: req, Package: pkg, Now: s.now(), IndexReadAt: indexReadAt,
		})
		if err != nil {
			return err
		}
		out.Build, out.Kind = b, KindDeduplicated
		if b.Status == lifecycle.StatusDone {
			// It ended after our read of the index, which now has its package.
			out.Kind = KindCached
			out.Asset = store.Asset{Tag: b.DriverVersion, Name: b.Package, DownloadURL: b.DownloadURL, Digest: b.Digest, DistroVersion: b.DistroVersion}
		}
		if !created {
			return nil
		}
		out.Kind = KindDispatched
		return tx.InsertJob(ctx, DispatchArgs{BuildID: b.ID}, nil)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("create build: %w", err)
	}
	return out, nil
}

// transition applies p in tx and runs OnDone when it ended the build done.
func (s *Service) transition(ctx context.Context, tx store.Tx, p lifecycle.Transition) (store.Build, bool, error) {
	b, changed, err := tx.BuildTransition(ctx, p)
	if err == nil && changed && b.Status == lifecycle.StatusDone {
		err = s.cfg.OnDone(ctx, tx, b)
	}
	return b, changed, err
}

// finished tells OnFinish of a build that a committed transition ended.
func (s *Service) finished(b store.Build, changed bool) {
	if changed && b.Status.Terminal() {
		s.cfg.OnFinish(b)
	}
}

// runNameRe reads the build id from the run-name that driver-build.yml
// renders: "build <id>: <distribution> ...".
var runNameRe = regexp.MustCompile(`^build ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):`)

// BuildIDFromRunName returns the build id a run-name carries, or "".
func BuildIDFromRunName(title string) string {
	m := runNameRe.FindStringSubmatch(title)
	if m == nil {
		return ""
	}
	return m[1]
}

// ours reports whether a run is a dispatch of our build workflow.
func (s *Service) ours(run ghclient.Run) bool {
	return path.Base(run.Path) == s.cfg.Workflow && (run.Event == "" || run.Event == "workflow_dispatch")
}

// inputs are the workflow_dispatch inputs for a build; driver-build.yml
// declares exactly these.
func inputs(b store.Build) map[string]string {
	return map[string]string{
		"kernel_version": b.KernelVersion,
		"architecture":   b.Architecture,
		"distribution":   b.Distribution,
		"distro_version": b.DistroVersion,
		"driver_version": b.DriverVersion,
		"build_id":       b.ID,
	}
}

func logFor(ctx context.Context, b store.Build) *zerolog.Logger {
	l := zerolog.Ctx(ctx).With().Str("build_id", b.ID).Logger()
	return &l
}

// shortErr keeps an error message fit for an event row.
func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return strings.ToValidUTF8(msg, "?")
}
