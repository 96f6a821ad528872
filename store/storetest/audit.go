package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// allPages reads a list page by page, checking that only the last page
// has no next cursor, and returns the pages.
func allPages[T any](t *testing.T, list func(cursor string) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	cursor := ""
	for {
		page, next, err := list(cursor)
		require.NoError(t, err)
		pages = append(pages, page)
		if next == "" {
			return pages
		}
		require.NotEmpty(t, page, "a page before the last is not empty")
		require.Less(t, len(pages), 1000, "the cursors go round")
		cursor = next
	}
}

func testBuildsList(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	// Eight builds, two of them created in the same second, across two
	// distributions and kernels, in every status.
	type spec struct {
		created      time.Time
		distribution string
		kernel       string
		to           lifecycle.Status
		reason       lifecycle.Reason
	}
	specs := []spec{
		{at(0), "ubuntu", "6.8.0-1021-gcp", lifecycle.StatusDone, ""},
		{at(1), "ubuntu", "6.8.0-1022-gcp", lifecycle.StatusError, lifecycle.ReasonBuildFailed},
		{at(2), "debian", "6.1.0-27-cloud-amd64", lifecycle.StatusDone, ""},
		{at(2), "debian", "6.1.0-28-cloud-amd64", lifecycle.StatusError, lifecycle.ReasonTimedOut},
		{at(3), "ubuntu", "6.8.0-1021-gcp", lifecycle.StatusInProgress, ""},
		{at(4), "debian", "6.1.0-27-cloud-amd64", lifecycle.StatusQueued, ""},
		{at(5), "ubuntu", "6.8.0-1023-gcp", lifecycle.StatusError, lifecycle.ReasonBuildFailed},
		{at(6), "debian", "6.1.0-29-cloud-amd64", lifecycle.StatusDone, ""},
	}
	var all []store.Build // newest first, as every list
	for i, sp := range specs {
		p := createParams(sp.created)
		p.Distribution, p.KernelVersion = sp.distribution, sp.kernel
		p.CacheKey = fmt.Sprintf("%s:%d", p.CacheKey, i)
		if sp.distribution == "debian" {
			p.DistroVersion, p.DriverVersion = "12", "v0.2.0"
		}
		b := mustCreate(t, s, p)
		if sp.to != lifecycle.StatusQueued {
			b = mustTransition(t, s, lifecycle.Transition{ID: b.ID, To: sp.to, Reason: sp.reason,
				Source: lifecycle.SourceWebhook, Now: sp.created.Add(time.Minute)})
		}
		all = append(all, b)
	}
	slices.SortFunc(all, func(a, b store.Build) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	pick := func(keep func(store.Build) bool) []store.Build {
		var out []store.Build
		for _, b := range all {
			if keep(b) {
				out = append(out, b)
			}
		}
		return out
	}

	// A group, so that its parallel cases end before the builds added below.
	t.Run("filters", func(t *testing.T) { testBuildFilters(t, s, all, pick) })

	t.Run("a page does not move when builds are added", func(t *testing.T) {
		first, next, err := s.BuildsList(ctx, store.BuildFilter{Page: store.Page{Limit: 3}})
		require.NoError(t, err)
		require.Equal(t, all[:3], first)
		newer := createParams(at(60))
		mustCreate(t, s, newer)
		second, _, err := s.BuildsList(ctx, store.BuildFilter{Page: store.Page{Limit: 3, Cursor: next}})
		require.NoError(t, err)
		require.Equal(t, all[3:6], second)
	})

	t.Run("a cursor no list returned", func(t *testing.T) {
		for _, cursor := range []string{"x", "bm90LWEtY3Vyc29y", "!!"} {
			_, _, err := s.BuildsList(ctx, store.BuildFilter{Page: store.Page{Cursor: cursor}})
			require.ErrorIs(t, err, store.ErrBadCursor, cursor)
		}
	})
}

func testRequestsList(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	request := func(receivedAt time.Time, outcome, kernelVersion, client string) store.Request {
		return store.Request{
			ReceivedAt: receivedAt, KernelVersion: kernelVersion, Architecture: "amd64", Distribution: "ubuntu",
			DistroVersion: "24.04", DriverVersion: "v0.1.2", Outcome: outcome, HTTPStatus: 202, BuildID: newID(), Client: client,
		}
	}
	invalid := request(at(2), "invalid", "6.8.0-$(reboot)", "fleet-a")
	invalid.HTTPStatus, invalid.BuildID, invalid.Field, invalid.Error = 400, "", "kernel_version", "kernel_version: only letters, digits and .-_+~"
	// Recorded in this order; two arrive in the same second.
	recorded := []store.Request{
		request(at(0), "dispatched", "6.8.0-1021-gcp", "fleet-a"),
		request(at(1), "deduplicated", "6.8.0-1021-gcp", "fleet-b"),
		invalid,
		request(at(2), "cached", "6.8.0-1022-gcp", "fleet-b"),
		request(at(3), "cached", "6.8.0-1021-gcp", ""),
	}
	for _, r := range recorded {
		require.NoError(t, s.RequestRecord(ctx, r))
	}
	// Newest first; of two in one second, the one recorded last first.
	all := []store.Request{recorded[4], recorded[3], recorded[2], recorded[1], recorded[0]}
	for name, tc := range map[string]struct {
		filter store.RequestFilter
		want   []store.Request
	}{
		"all":                            {store.RequestFilter{}, all},
		"outcome":                        {store.RequestFilter{Outcome: "cached"}, []store.Request{all[0], all[1]}},
		"kernel":                         {store.RequestFilter{KernelVersion: "6.8.0-1021-gcp"}, []store.Request{all[0], all[3], all[4]}},
		"client":                         {store.RequestFilter{Client: "fleet-b"}, []store.Request{all[1], all[3]}},
		"since, until":                   {store.RequestFilter{Since: at(1), Until: at(3)}, []store.Request{all[1], all[2], all[3]}},
		"invalid ones, with their field": {store.RequestFilter{Outcome: "invalid"}, []store.Request{invalid}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, next, err := s.RequestsList(ctx, tc.filter)
			require.NoError(t, err)
			require.Empty(t, next)
			require.Equal(t, tc.want, got)
			f := tc.filter
			f.Limit = 1
			var joined []store.Request
			for _, page := range allPages(t, func(cursor string) ([]store.Request, string, error) {
				f.Cursor = cursor
				return s.RequestsList(ctx, f)
			}) {
				joined = append(joined, page...)
			}
			require.Equal(t, tc.want, joined)
		})
	}
	_, _, err := s.RequestsList(ctx, store.RequestFilter{Page: store.Page{Cursor: "MTIzNDU"}})
	require.ErrorIs(t, err, store.ErrBadCursor)
}

func testDeliveriesList(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	var all []store.Delivery
	for i := range store.MaxLimit + 1 {
		d := store.Delivery{ID: fmt.Sprintf("d-%04d", i), Event: "workflow_run", Action: "completed", ReceivedAt: at(i / 2)}
		if i%3 == 0 {
			d.Event, d.Action = "release", "published"
		}
		isNew, err := s.DeliveryRecord(ctx, d.ID, d.Event, d.Action, d.ReceivedAt)
		require.NoError(t, err)
		require.True(t, isNew)
		all = append([]store.Delivery{d}, all...) // newest first
	}

	got, next, err := s.DeliveriesList(ctx, store.DeliveryFilter{})
	require.NoError(t, err)
	require.Equal(t, all[:store.DefaultLimit], got, "a default page")
	require.NotEmpty(t, next)
	got, next, err = s.DeliveriesList(ctx, store.DeliveryFilter{Page: store.Page{Limit: store.MaxLimit + 100}})
	require.NoError(t, err)
	require.Equal(t, all[:store.MaxLimit], got, "a page is at most MaxLimit")
	got, last, err := s.DeliveriesList(ctx, store.DeliveryFilter{Page: store.Page{Limit: store.MaxLimit, Cursor: next}})
	require.NoError(t, err)
	require.Equal(t, all[store.MaxLimit:], got)
	require.Empty(t, last)

	var releases []store.Delivery
	for _, d := range all {
		if d.Event == "release" && !d.ReceivedAt.Before(at(200)) {
			releases = append(releases, d)
		}
	}
	got, next, err = s.DeliveriesList(ctx, store.DeliveryFilter{Event: "release", Since: at(200), Page: store.Page{Limit: store.MaxLimit}})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Equal(t, releases, got)
}

func testBuildFilters(t *testing.T, s store.Store, all []store.Build, pick func(func(store.Build) bool) []store.Build) {
	ctx := t.Context()
	for name, tc := range map[string]struct {
		filter store.BuildFilter
		want   []store.Build
	}{
		"all":          {store.BuildFilter{}, all},
		"status":       {store.BuildFilter{Status: lifecycle.StatusError}, pick(func(b store.Build) bool { return b.Status == lifecycle.StatusError })},
		"reason":       {store.BuildFilter{Reason: lifecycle.ReasonBuildFailed}, pick(func(b store.Build) bool { return b.Reason == lifecycle.ReasonBuildFailed })},
		"distribution": {store.BuildFilter{Distribution: "debian"}, pick(func(b store.Build) bool { return b.Distribution == "debian" })},
		"kernel":       {store.BuildFilter{KernelVersion: "6.8.0-1021-gcp"}, pick(func(b store.Build) bool { return b.KernelVersion == "6.8.0-1021-gcp" })},
		"driver":       {store.BuildFilter{DriverVersion: "v0.2.0"}, pick(func(b store.Build) bool { return b.DriverVersion == "v0.2.0" })},
		"since, until": {store.BuildFilter{Since: at(2), Until: at(5)}, pick(func(b store.Build) bool { return !b.CreatedAt.Before(at(2)) && b.CreatedAt.Before(at(5)) })},
		"two filters": {store.BuildFilter{Distribution: "ubuntu", Status: lifecycle.StatusError},
			pick(func(b store.Build) bool { return b.Distribution == "ubuntu" && b.Status == lifecycle.StatusError })},
		"none match": {store.BuildFilter{KernelVersion: "6.9.0-1-gcp"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, next, err := s.BuildsList(ctx, tc.filter)
			require.NoError(t, err)
			require.Empty(t, next)
			require.Equal(t, tc.want, got)
			// Pages of one, two and three rows say the same, in the same
			// order, ties in the same second included.
			for _, limit := range []int{1, 2, 3} {
				f := tc.filter
				f.Limit = limit
				var joined []store.Build
				for _, page := range allPages(t, func(cursor string) ([]store.Build, string, error) {
					f.Cursor = cursor
					return s.BuildsList(ctx, f)
				}) {
					require.LessOrEqual(t, len(page), limit)
					joined = append(joined, page...)
				}
				require.Equal(t, tc.want, joined, "limit %d", limit)
			}
		})
	}
}
