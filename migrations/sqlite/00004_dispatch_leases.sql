-- +goose Up
-- Who may dispatch a queued build, until when: a dispatch attempt, its
-- retry, or a takeover after a crash take turns through this row, so that
-- two of them never call GitHub for the same build at once.
CREATE TABLE dispatch_leases (
    build_id TEXT PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    until    TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE dispatch_leases;
