package bench_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/internal/bench"
)

// Each scenario, run small against the real binaries: it works and its
// report holds what the scenario is for. How fast is the tool's business,
// not the test's.
func TestScenariosSmoke(t *testing.T) {
	pg := os.Getenv("TEST_DATABASE_URL")
	bin, err := bench.Build(t.Context(), t.TempDir())
	require.NoError(t, err)
	for name, c := range map[string]struct {
		o     bench.Options
		check func(t *testing.T, f map[string]bench.Spread)
	}{
		"cached": {
			o: bench.Options{Duration: 300 * time.Millisecond, Connections: 4},
			check: func(t *testing.T, f map[string]bench.Spread) {
				require.Positive(t, f["service_rps"].Median)
				require.Positive(t, f["bare_rps"].Median)
				require.Zero(t, f["github_api_calls"].Median, "a cached answer calls no GitHub API")
				require.Zero(t, f["failures"].Median)
			},
		},
		"bootstorm": {
			o: bench.Options{Clients: 50, BuildDuration: 500 * time.Millisecond},
			check: func(t *testing.T, f map[string]bench.Spread) {
				require.EqualValues(t, 1, f["dispatches"].Median)
				require.EqualValues(t, 1, f["build_ids"].Median)
				require.Positive(t, f["service_post_p99_ms"].Median)
			},
		},
		"status-latency": {
			o: bench.Options{Duration: time.Second, Clients: 1, BuildDuration: 100 * time.Millisecond},
			check: func(t *testing.T, f map[string]bench.Spread) {
				require.Positive(t, f["builds"].Median)
				require.Zero(t, f["failures"].Median)
				require.Positive(t, f["p99_ms"].Median)
			},
		},
		"api-calls": {
			o: bench.Options{Builds: 2, Clients: 2, BuildDuration: 300 * time.Millisecond, PollInterval: 500 * time.Millisecond},
			check: func(t *testing.T, f map[string]bench.Spread) {
				require.Positive(t, f["calls_per_build"].Median)
				require.Greater(t, f["dropped_calls_per_build"].Median, f["calls_per_build"].Median, "polling costs calls")
			},
		},
		"soak": {
			o: bench.Options{Duration: 2 * time.Second, Connections: 2, Finished: 300, Active: 20, BuildDuration: 200 * time.Millisecond},
			check: func(t *testing.T, f map[string]bench.Spread) {
				require.Zero(t, f["failures"].Median)
				require.Positive(t, f["rss_mb_max"].Median)
				require.Positive(t, f["rps"].Median)
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := c.o
			o.Scenario, o.DB, o.Bin = name, "sqlite", bin
			if name == "cached" && pg != "" {
				// The one scenario run on Postgres too, in a database of
				// its own that the run drops.
				o.DB, o.PostgresURL = "postgres", pg
			}
			var out bytes.Buffer
			rep, err := bench.Run(t.Context(), o, &out, io.Discard)
			require.NoError(t, err)
			lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
			var last bench.Report
			require.NoError(t, json.Unmarshal(lines[len(lines)-1], &last), "the last line is the report")
			require.Equal(t, rep.Figures, last.Figures)
			require.NotEmpty(t, last.Targets)
			c.check(t, last.Figures)
		})
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := bench.Run(t.Context(), bench.Options{Scenario: "fast", DB: "sqlite"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "accepted are api-calls, bootstorm, cached, soak, status-latency")
}
