package builds_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// Two replicas whose clocks disagree by a minute: the one ahead does not
// take the dispatch lease the other holds while its dispatch is on its
// way to GitHub, since leases are on the database's clock.
func TestLeaseHoldsAcrossSkewedClocks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		t.Parallel()
		ctx := t.Context()
		sim := startSim(t)
		// The replica behind reaches GitHub through a proxy that holds its
		// dispatch until the other replica has tried.
		target, err := url.Parse(sim.URL())
		require.NoError(t, err)
		proxy := httputil.NewSingleHostReverseProxy(target)
		arrived, release := make(chan struct{}), make(chan struct{})
		held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/dispatches") {
				close(arrived)
				<-release
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(held.Close)
		var once sync.Once
		letGo := func() { once.Do(func() { close(release) }) }
		t.Cleanup(letGo) // before held.Close, which waits for the held request

		st := open(t)
		replica := func(base string, now func() time.Time) *builds.Service {
			svc, _ := serviceOn(base, sim, st, builds.Config{PollInterval: 15 * time.Second, RetryDelay: time.Second, Now: now})
			return svc
		}
		behind := replica(held.URL, time.Now)
		ahead := replica(sim.URL(), func() time.Time { return time.Now().Add(time.Minute) })

		req := kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04", DriverVersion: "v0.2.0"}
		b, _, err := st.BuildCreate(ctx, store.BuildCreateParams{ID: "01a21cf6-92a5-792f-96bb-2a01ef022348", CacheKey: req.CacheKey(),
			Request: req, Package: "p.deb", Now: time.Now()})
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() { done <- behind.Dispatch(ctx, b.ID, false, time.Now().Add(time.Second)) }()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the dispatch of the replica behind never reached GitHub")
		}
		var heldErr *builds.LeaseHeldError
		require.ErrorAs(t, ahead.Dispatch(ctx, b.ID, false, time.Now().Add(time.Second)), &heldErr,
			"the lease the replica behind holds")
		letGo()
		require.NoError(t, <-done)
		require.EqualValues(t, 1, sim.Stats().Dispatches, "one dispatch")
	})
}
