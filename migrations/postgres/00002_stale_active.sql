-- +goose Up
-- BuildsStale lists queued builds too, not only in_progress ones. The
-- predicate is the query's, word for word, so that SQLite uses the index.
DROP INDEX builds_stale_idx;
CREATE INDEX builds_stale_idx ON builds (heard_at, id) WHERE status IN ('queued', 'in_progress');

-- +goose Down
DROP INDEX builds_stale_idx;
CREATE INDEX builds_stale_idx ON builds (heard_at) WHERE status = 'in_progress';
