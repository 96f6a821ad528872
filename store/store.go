// Package store holds the build-service's persistent state: builds and their
// event trail, webhook deliveries, the audit log of build requests, and the
// index of release assets. Implementations live in store/postgres and
// store/sqlite; store/storetest is the conformance suite both must pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/lifecycle"
)

var (
	// ErrNotFound is returned when a lookup matches nothing.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write would violate a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable is returned when the database could not be reached or
	// went away mid-statement: worth trying again shortly, unlike a refusal.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNoJobs is returned by Tx.InsertJob until NewJobs has created the River
	// client that inserts jobs.
	ErrNoJobs = errors.New("no jobs client: call NewJobs first")
	// ErrBadCursor is returned for a cursor that no list returned.
	ErrBadCursor = errors.New("not a cursor a list returned")
)

// Build is one requested build of one package.
type Build struct {
	ID       string
	CacheKey string
	kernel.Request
	Package string
	lifecycle.State

	CreatedAt time.Time
}

// BuildCreateParams are the fields of a new build. Status starts at queued.
type BuildCreateParams struct {
	ID       string
	CacheKey string
	kernel.Request
	Package string
	Now     time.Time
	// IndexReadAt is when the request found no package in the index: a
	// build of the key that ended done since has it, and answers instead.
	IndexReadAt time.Time
}

// BuildsStaleParams select stale builds.
type BuildsStaleParams struct {
	HeardBefore time.Time
	Status      lifecycle.Status // "" for any active status
	Limit       int
}

// DispatchLeaseParams ask for a build's dispatch lease for Term from the
// database's now. Held is the end of the lease the caller holds, to extend
// it (never to shorten it); zero when it holds none.
type DispatchLeaseParams struct {
	BuildID string
	Held    time.Time
	Term    time.Duration
}

// DispatchLease is the answer to a lease request.
type DispatchLease struct {
	// Taken: the caller holds the lease until Until. Otherwise another
	// holder does until Until. Left is the time from the database's now
	// to Until.
	Taken bool
	Until time.Time
	Left  time.Duration
	// Attempted: a lease was taken before, so an earlier attempt may have
	// reached GitHub, and the run it started must be looked for first.
	Attempted bool
}

// Event is one status change of a build.
type Event struct {
	ID        int64
	BuildID   string
	From      lifecycle.Status // "" for the creation event
	To        lifecycle.Status
	Reason    lifecycle.Reason
	Source    lifecycle.Source
	Detail    string
	CreatedAt time.Time
}

// Request is one POST /build as received, with its outcome: the audit log.
type Request struct {
	ReceivedAt    time.Time
	KernelVersion string // as sent, truncated to a sane length
	Architecture  string
	Distribution  string
	DistroVersion string
	DriverVersion string
	Outcome       string // "cached", "dispatched", "deduplicated", "cooldown", "invalid", "mismatch", "unavailable", "error"
	HTTPStatus    int
	BuildID       string // empty when no build is involved
	Error         string // the message the client was given, if any
	Field         string // the field an invalid request got wrong, if one
	Client        string // the name of the client's token, "" if none
}

// Delivery is one webhook delivery the service applied.
type Delivery struct {
	ID, Event, Action string
	ReceivedAt        time.Time
}

// Page is which page of a list, newest first: Limit rows (DefaultLimit
// when 0, at most MaxLimit) after Cursor, the next cursor a list returned
// ("" for the first page). Pages are stable while rows are added.
type Page struct {
	Limit  int
	Cursor string
}

const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// BuildFilter selects builds; an empty field selects all. Since and Until
// bound CreatedAt, Until excluded.
type BuildFilter struct {
	Status                                     lifecycle.Status
	Reason                                     lifecycle.Reason
	Distribution, KernelVersion, DriverVersion string
	Since, Until                               time.Time
	Page
}

// RequestFilter selects requests by ReceivedAt and the fields named.
type RequestFilter struct {
	Outcome, KernelVersion, Client string
	Since, Until                   time.Time
	Page
}

// DeliveryFilter selects deliveries by event and ReceivedAt.
type DeliveryFilter struct {
	Event string
	Since time.Time
	Page
}

// Release is what we know of one GitHub release.
type Release struct {
	Tag         string
	ReleaseID   int64
	ETag        string // of the last full asset listing, for conditional requests
	RefreshedAt time.Time
}

// Asset is one file attached to a release.
type Asset struct {
	Tag           string
	Name          string
	AssetID       int64
	DownloadURL   string // the public browser_download_url
	Size          int64
	Digest        string // "sha256:<hex>" when GitHub reported one
	DistroVersion string // the distro version the package was built for, "" if unknown
	UpdatedAt     time.Time
}

// Queries are the reads and writes, available on the store and inside a
// transaction alike. Times are stored in UTC and come back truncated to
// microseconds, the precision both databases keep.
type Queries interface {
	// BuildCreate inserts a queued build and its creation event, unless an
	// active build holds the cache key or one ended done at or after
	// p.IndexReadAt: then it returns that one and created=false. Creators
	// of a key take turns under a lock, so this holds across processes.
	BuildCreate(ctx context.Context, p BuildCreateParams) (b Build, created bool, err error)
	BuildByID(ctx context.Context, id string) (Build, error)
	// BuildByRunID returns the newest build with the workflow run id.
	BuildByRunID(ctx context.Context, runID int64) (Build, error)
	// BuildLatestByKey returns the newest build with the cache key, whatever its status.
	BuildLatestByKey(ctx context.Context, cacheKey string) (Build, error)
	// BuildTransition applies what an observer learned, by lifecycle.Apply,
	// under the build's row lock. A move writes an event row and returns
	// changed=true. It returns the build as stored after.
	BuildTransition(ctx context.Context, p lifecycle.Transition) (b Build, changed bool, err error)
	// BuildsStale lists the active (queued or in_progress) builds, or those
	// in p.Status when set, whose HeardAt is before p.HeardBefore, oldest
	// first: the ones the poller reconciles, and the queued ones whose
	// dispatch may have died with a replica.
	BuildsStale(ctx context.Context, p BuildsStaleParams) ([]Build, error)
	// BuildsOverdue lists active builds dispatched (or, if never dispatched,
	// created) before the time, oldest first.
	BuildsOverdue(ctx context.Context, before time.Time, limit int) ([]Build, error)
	BuildEvents(ctx context.Context, buildID string) ([]Event, error)
	// DispatchLease takes the right to dispatch a build for p.Term, when
	// nobody else holds it: no lease yet, one that ended, or the caller's
	// own (p.Held). Whoever dispatches holds it, so that two attempts
	// never call GitHub for one build at once. It is on the database's
	// clock, which every replica reads alike.
	DispatchLease(ctx context.Context, p DispatchLeaseParams) (DispatchLease, error)
	// Clock is the database's time: the one clock of every replica.
	Clock(ctx context.Context) (time.Time, error)

	// DeliveryRecord stores a webhook delivery id; isNew is false when it was
	// already there, so a redelivery can be a no-op.
	DeliveryRecord(ctx context.Context, deliveryID, event, action string, at time.Time) (isNew bool, err error)
	// DeliverySeen reports whether a delivery id was recorded: applied.
	DeliverySeen(ctx context.Context, deliveryID string) (bool, error)

	RequestRecord(ctx context.Context, r Request) error
	// RequestsRecord stores many, together.
	RequestsRecord(ctx context.Context, rs []Request) error
	RequestsRecent(ctx context.Context, limit int) ([]Request, error)

	// The audit lists return a page and the cursor of the next one, "" on
	// the last page; a cursor they did not return is ErrBadCursor.
	BuildsList(ctx context.Context, f BuildFilter) ([]Build, string, error)
	RequestsList(ctx context.Context, f RequestFilter) ([]Request, string, error)
	DeliveriesList(ctx context.Context, f DeliveryFilter) ([]Delivery, string, error)

	ReleaseUpsert(ctx context.Context, r Release) error
	ReleaseByTag(ctx context.Context, tag string) (Release, error)
	// ReleaseDelete removes the release and all its assets, together.
	// Deleting a release that is not there is no error: GitHub may tell us
	// about a deletion twice.
	ReleaseDelete(ctx context.Context, tag string) error
	// ReleaseTags lists the tags of every stored release in byte order, as
	// sort.Strings would, whatever the database's collation.
	ReleaseTags(ctx context.Context) ([]string, error)
	// AssetsReplace makes the stored assets of the tag the given set, a
	// listing of the release read at listedAt, stored under tag whatever
	// their Tag field says. An asset the set lacks is kept if it was stored
	// at or after listedAt: it was uploaded after the listing was read.
	// kept says whether any was.
	AssetsReplace(ctx context.Context, tag string, assets []Asset, listedAt time.Time) (kept bool, err error)
	AssetUpsert(ctx context.Context, a Asset) error
	// AssetDelete removes an asset. Removing one that is not there is no
	// error: GitHub may tell us about a deletion twice.
	AssetDelete(ctx context.Context, tag, name string) error
	AssetByName(ctx context.Context, tag, name string) (Asset, error)
	// AssetsOfTag lists the stored assets of a release, by name.
	AssetsOfTag(ctx context.Context, tag string) ([]Asset, error)
	// ReleaseAssetCounts says how many assets each stored release holds
	// (GitHub allows 1,000): how full each shard is.
	ReleaseAssetCounts(ctx context.Context) (map[string]int, error)

	DashboardQueries
	Listings
}

// Tx is one transaction. Jobs inserted through it are committed or rolled
// back with it, so a build and the job that dispatches it exist together or
// not at all.
type Tx interface {
	Queries
	InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
}

// Jobs is a running (or insert-only) River client, whatever its driver.
type Jobs interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	// StopAndCancel stops at once, cancelling the jobs that run.
	StopAndCancel(ctx context.Context) error
}

// Store is a database.
type Store interface {
	Queries
	// InTx runs fn in one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// NewJobs creates the River client on this database, with the driver
	// that fits it. Tx.InsertJob needs it. A later call replaces the
	// client, as a service restarted in-process does.
	NewJobs(cfg *river.Config) (Jobs, error)
	Ping(ctx context.Context) error
	// AssetChanges calls changed with the tag of every release whose
	// assets a committed transaction changed, in any process, and with ""
	// when changes may have been missed (as it starts, and after the
	// database connection was lost): any may have changed. It returns when
	// ctx ends. Where no other process can write (SQLite) it only waits.
	// In-memory copies of the asset index stay coherent with it.
	AssetChanges(ctx context.Context, changed func(tag string)) error
	Close() error
}

// ListingState is where a done build's kernel is on its way into
// kernels.json on the default branch.
type ListingState string

const (
	ListingPending       ListingState = "pending"        // proposed: the branch is being made, or its PR opened
	ListingPROpen        ListingState = "pr_open"        // the PR is open, waiting for its checks
	ListingMerged        ListingState = "merged"         // the PR merged: the kernel is listed
	ListingAlreadyListed ListingState = "already_listed" // the file listed it already; nothing was proposed
	ListingChecksFailed  ListingState = "checks_failed"  // a required check failed; the PR stays open
)

// Settled reports whether nothing more is done for a listing in s
// unless a webhook says something changed.
func (s ListingState) Settled() bool {
	return s == ListingMerged || s == ListingAlreadyListed || s == ListingChecksFailed
}

// Listing is the kernels.json state of one done build. The builds whose
// kernels one branch proposes (a batch, or two driver versions of one
// kernel) share its state, PR and head.
type Listing struct {
	BuildID   string
	Branch    string // "" while the build waits for its batch to be sealed
	State     ListingState
	PRNumber  int
	PRURL     string
	HeadSHA   string // the commit the service last pushed to Branch
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ListingsUpdate changes every listing of one branch. Empty fields leave
// the stored value alone.
type ListingsUpdate struct {
	Branch   string // the rows of this branch; "" is the builds no batch took yet
	ToBranch string // moves them to this branch: a batch being sealed
	State    ListingState
	PRNumber int
	PRURL    string
	HeadSHA  string
	Now      time.Time
}

// Listings are the queries of the kernels.json state.
type Listings interface {
	// ListingPut stores a build's listing, replacing the one it had.
	ListingPut(ctx context.Context, l Listing) error
	ListingByBuild(ctx context.Context, buildID string) (Listing, error)
	// ListingsOfBranch lists the listings of a branch, oldest first; ""
	// lists those no batch took yet.
	ListingsOfBranch(ctx context.Context, branch string) ([]Listing, error)
	// ListingsUnsettled lists the pending and pr_open listings created
	// before the time, oldest first: those reconcile looks at.
	ListingsUnsettled(ctx context.Context, before time.Time, limit int) ([]Listing, error)
	// ListingsSet applies u to every listing of u.Branch but the final
	// ones, already listed or merged, and says how many it changed. A
	// listing u leaves as it was keeps its UpdatedAt: when it last changed.
	ListingsSet(ctx context.Context, u ListingsUpdate) (int, error)
}
