package handlers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/store"
	"github.com/riptides/driverbuild/store/storetest"
)

// A request's raw fields go into its audit row, which is written in one
// batch with the rows around it: a value Postgres refuses (a NUL, which
// JSON spells \u0000) must not cost the batch, the others' rows too.
func TestAuditRowTakesANul(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		rows := []store.Request{
			{ReceivedAt: time.Now().UTC(), KernelVersion: clip("6.8.0\x00-1053-gcp"), Field: clip("kernel\x00version"),
				Outcome: "invalid", HTTPStatus: 400, Error: "bad"},
			{ReceivedAt: time.Now().UTC(), KernelVersion: clip("6.8.0-1053-gcp"), Outcome: "cached", HTTPStatus: 200},
		}
		require.NoError(t, st.RequestsRecord(t.Context(), rows))
		got, err := st.RequestsRecent(t.Context(), 10)
		require.NoError(t, err)
		require.Len(t, got, 2)
	})
}
