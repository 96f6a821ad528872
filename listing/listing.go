// Package listing keeps .github/kernels.json listing every kernel the
// service built, so that the nightly batch rebuilds it: a durable job
// proposes the kernel on a predictable branch, the push webhook opens its
// pull request, check webhooks merge it once every required check passed,
// and a push to the default branch re-applies the change to the pull
// requests it made conflict. A periodic reconcile covers lost webhooks
// and restarts. Every step reads GitHub's state and is safe to repeat.
package listing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
	"github.com/riptides/driverbuild/store"
)

// GitHub is what the loop asks of GitHub.
type GitHub interface {
	File(ctx context.Context, ref, path string) (content []byte, blobSHA string, err error)
	BranchHead(ctx context.Context, branch string) (sha string, found bool, err error)
	Parent(ctx context.Context, sha string) (string, error)
	CommitFile(ctx context.Context, parent, path string, content []byte, message string) (string, error)
	CreateBranch(ctx context.Context, branch, sha string) error
	ForceBranch(ctx context.Context, branch, sha string) error
	DeleteBranch(ctx context.Context, branch string) error
	OpenPull(ctx context.Context, head, base, title, body string) (ghclient.PullRequest, error)
	PullsOf(ctx context.Context, branch, state string) ([]ghclient.PullRequest, error)
	Pull(ctx context.Context, number int) (ghclient.PullRequest, error)
	Merge(ctx context.Context, number int, sha, method, title string) error
}

// Store is what the loop reads and writes.
type Store interface {
	BuildByID(ctx context.Context, id string) (store.Build, error)
	store.Listings
	InTx(ctx context.Context, fn func(store.Tx) error) error
}

// Config is the kernels_json section of the configuration.
type Config struct {
	Enabled bool
	Catalog *kernel.Catalog
	// Base is the default branch, where kernels.json is read and merged.
	Base        string
	Path        string // .github/kernels.json
	MergeMethod string // squash, merge or rebase
	// BatchWindow, when positive, puts the kernels that finish within it
	// into one pull request.
	BatchWindow time.Duration
	// RetryDelay is the first wait before a failed step is tried again,
	// times the attempt.
	RetryDelay time.Duration
	// Budget, when set, is the API budget left: the loop's jobs wait
	// while it is low, and the periodic reconcile skips.
	Budget *ghclient.Budget
	// Apply records a webhook delivery and runs fn in its transaction, as
	// the builds' handlers do: a redelivery is a no-op.
	Apply func(ctx context.Context, d *builds.Delivery, fn func(store.Tx) error) error
	Now   func() time.Time
}

// Service runs the loop.
type Service struct {
	cfg     Config
	store   Store
	gh      GitHub
	decider Decider
	refused refusals
}

// New returns a Service.
func New(cfg Config, st Store, gh GitHub, d Decider) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	return &Service{cfg: cfg, store: st, gh: gh, decider: d}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Enabled reports whether the loop runs at all.
func (s *Service) Enabled() bool { return s != nil && s.cfg.Enabled }

// BuildDone is the hook the builds package calls in the transaction that
// ends a build done: the proposal is durable with the build's end.
func (s *Service) BuildDone(ctx context.Context, tx store.Tx, b store.Build) error {
	if !s.Enabled() {
		return nil
	}
	opts := ProposeArgs{}.InsertOpts()
	opts.ScheduledAt = s.now().Add(proposeDelay)
	if err := tx.InsertJob(ctx, ProposeArgs{BuildID: b.ID}, &opts); err != nil {
		return fmt.Errorf("enqueue kernels.json proposal: %w", err)
	}
	return nil
}

// proposeDelay defers the proposal past the moment a build ends, which is
// when the fleet that waited on it comes back for the package: those
// answers come first, the pull request a few seconds later costs nothing.
const proposeDelay = 3 * time.Second

// branchOf is the state of one branch: its listings, oldest first, and
// the builds whose kernels it carries.
type branchOf struct {
	name     string
	listings []store.Listing
	builds   []store.Build
}

func (b branchOf) first() store.Listing { return b.listings[0] }

func (b branchOf) requests() []kernel.Request {
	out := make([]kernel.Request, 0, len(b.builds))
	for _, bl := range b.builds {
		out = append(out, bl.Request)
	}
	return out
}

// proposes reports whether the branch proposes r's kernel: a build of it
// for another driver version is on the branch.
func (b branchOf) proposes(r kernel.Request) bool {
	return slices.ContainsFunc(b.builds, func(bl store.Build) bool {
		r.DriverVersion = bl.DriverVersion // whatever the driver version
		return bl.Request == r
	})
}

// loadBranch reads the live listings of a branch and their builds; ok is
// false when none is live (another's branch, or one we are done with).
func (s *Service) loadBranch(ctx context.Context, name string) (b branchOf, ok bool, err error) {
	ls, err := s.store.ListingsOfBranch(ctx, name)
	if err != nil {
		return branchOf{}, false, err
	}
	b.name = name
	for _, l := range ls {
		if l.State == store.ListingAlreadyListed || l.State == store.ListingMerged {
			continue
		}
		bl, err := s.store.BuildByID(ctx, l.BuildID)
		if err != nil {
			return branchOf{}, false, err
		}
		b.listings, b.builds = append(b.listings, l), append(b.builds, bl)
	}
	return b, len(b.listings) > 0, nil
}

// set changes the state of every listing of a branch.
func (s *Service) set(ctx context.Context, u store.ListingsUpdate) error {
	u.Now = s.now()
	if _, err := s.store.ListingsSet(ctx, u); err != nil {
		return err
	}
	return nil
}

// baseFile is kernels.json at the head of the default branch.
type baseFile struct {
	head string
	data []byte
}

// readBase reads kernels.json at the head of the default branch; a
// repository without the file has an empty one.
func (s *Service) readBase(ctx context.Context) (baseFile, error) {
	head, found, err := s.gh.BranchHead(ctx, s.cfg.Base)
	if err != nil {
		return baseFile{}, err
	}
	if !found {
		return baseFile{}, fmt.Errorf("the default branch %s does not exist", s.cfg.Base)
	}
	data, _, err := s.gh.File(ctx, head, s.cfg.Path)
	if ghclient.IsNotFound(err) {
		return baseFile{head: head, data: []byte("{}")}, nil
	}
	return baseFile{head: head, data: data}, err
}

// readBaseKernels reads and parses the file on the default branch's head.
func (s *Service) readBaseKernels(ctx context.Context) (matrix.Kernels, error) {
	base, err := s.readBase(ctx)
	if err != nil {
		return matrix.Kernels{}, err
	}
	k, err := matrix.ParseKernels(base.data)
	if err != nil {
		return matrix.Kernels{}, fmt.Errorf("%s on %s: %w", s.cfg.Path, s.cfg.Base, err)
	}
	return k, nil
}

func logFor(ctx context.Context, branch string) *zerolog.Logger {
	l := zerolog.Ctx(ctx).With().Str("branch", branch).Logger()
	return &l
}

var errNotYet = errors.New("not yet")
