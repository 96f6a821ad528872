package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// slowStore answers BuildByID after a while, counting the reads and
// the pings.
type slowStore struct {
	handlers.APIStore
	reads, pings atomic.Int64
	build        store.Build
}

func (s *slowStore) Ping(context.Context) error {
	s.pings.Add(1)
	return nil
}

func (s *slowStore) BuildByID(context.Context, string) (store.Build, error) {
	s.reads.Add(1)
	time.Sleep(100 * time.Millisecond)
	return s.build, nil
}

// statusServer serves the API on st.
func statusServer(t *testing.T, st handlers.APIStore, logs io.Writer) *httptest.Server {
	t.Helper()
	access, err := handlers.NewAccess(handlers.AccessConfig{Anonymous: true, RateLimit: handlers.DefaultRateLimit()})
	require.NoError(t, err)
	mux := http.NewServeMux()
	(&handlers.API{Store: st, Access: access, Metrics: handlers.NewMetrics(), Now: time.Now}).Register(mux)
	log := zerolog.New(logs)
	srv := httptest.NewServer(hlog.NewHandler(log)(mux))
	t.Cleanup(srv.Close)
	return srv
}

// A fleet polling one build at once costs the database one read, not one
// per node.
func TestStatusPollsShareARead(t *testing.T) {
	t.Parallel()
	const id = "01a21cf6-92a5-792f-96bb-2a01ef022348"
	st := &slowStore{build: store.Build{ID: id, State: lifecycle.State{Status: lifecycle.StatusInProgress}}}
	srv := statusServer(t, st, io.Discard)

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/status/" + id)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			var b buildapi.Build
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
			assert.Equal(t, "in_progress", b.Status)
		})
	}
	wg.Wait()
	assert.Less(t, st.reads.Load(), int64(10), "50 polls at once read the build %d times", st.reads.Load())

	// A poll after the reads ended reads anew.
	before := st.reads.Load()
	resp, err := http.Get(srv.URL + "/status/" + id)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, before+1, st.reads.Load())
}

// A poll whose node gives up while the shared read runs is dropped: no
// ping of a database that is fine, no error logged, no answer to write.
func TestStatusPollGivenUpIsDropped(t *testing.T) {
	t.Parallel()
	const id = "01a21cf6-92a5-792f-96bb-2a01ef022348"
	st := &slowStore{build: store.Build{ID: id, State: lifecycle.State{Status: lifecycle.StatusInProgress}}}
	var logs syncBuffer
	srv := statusServer(t, st, &logs)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status/"+id, nil)
	require.NoError(t, err)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	srv.Close() // waits for the handler
	require.EqualValues(t, 1, st.reads.Load())
	assert.Zero(t, st.pings.Load(), "the database was pinged for a client that left")
	assert.NotContains(t, logs.String(), "load build")
}
