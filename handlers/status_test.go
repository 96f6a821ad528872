package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/lifecycle"
	"github.com/riptides/driverbuild/store"
)

// slowStore answers BuildByID after a while, counting the reads.
type slowStore struct {
	handlers.APIStore
	reads atomic.Int64
	build store.Build
}

func (s *slowStore) BuildByID(context.Context, string) (store.Build, error) {
	s.reads.Add(1)
	time.Sleep(100 * time.Millisecond)
	return s.build, nil
}

// A fleet polling one build at once costs the database one read, not one
// per node.
func TestStatusPollsShareARead(t *testing.T) {
	t.Parallel()
	const id = "01a21cf6-92a5-792f-96bb-2a01ef022348"
	st := &slowStore{build: store.Build{ID: id, State: lifecycle.State{Status: lifecycle.StatusInProgress}}}
	access, err := handlers.NewAccess(handlers.AccessConfig{Anonymous: true, RateLimit: handlers.DefaultRateLimit()})
	require.NoError(t, err)
	mux := http.NewServeMux()
	(&handlers.API{Store: st, Access: access, Metrics: handlers.NewMetrics(), Now: time.Now}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

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
