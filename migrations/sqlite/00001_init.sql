-- +goose Up
-- Timestamps are UTC text of one fixed width (2006-01-02T15:04:05.000000Z),
-- so comparing and sorting them as strings is comparing them as times.
CREATE TABLE builds (
    id             TEXT PRIMARY KEY,
    cache_key      TEXT NOT NULL,
    kernel_version TEXT NOT NULL,
    architecture   TEXT NOT NULL,
    distribution   TEXT NOT NULL,
    distro_version TEXT NOT NULL,
    driver_version TEXT NOT NULL,
    package        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'in_progress', 'done', 'error')),
    reason         TEXT NOT NULL DEFAULT '' CHECK (reason IN ('', 'dispatch_failed', 'build_failed', 'cancelled', 'timed_out', 'package_missing')),
    progress       TEXT NOT NULL DEFAULT '',
    run_id         INTEGER NOT NULL DEFAULT 0,
    run_url        TEXT NOT NULL DEFAULT '',
    download_url   TEXT NOT NULL DEFAULT '',
    digest         TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    dispatched_at  TEXT,
    heard_at       TEXT NOT NULL,
    finished_at    TEXT
) STRICT;

-- At most one active build per cache key: the dedup that holds across processes.
CREATE UNIQUE INDEX builds_active_cache_key_idx ON builds (cache_key) WHERE status IN ('queued', 'in_progress');
CREATE INDEX builds_cache_key_created_at_idx ON builds (cache_key, created_at);
CREATE INDEX builds_run_id_idx ON builds (run_id) WHERE run_id <> 0;
CREATE INDEX builds_stale_idx ON builds (heard_at) WHERE status = 'in_progress';
CREATE INDEX builds_overdue_idx ON builds ((COALESCE(dispatched_at, created_at))) WHERE status IN ('queued', 'in_progress');

CREATE TABLE build_events (
    id          INTEGER PRIMARY KEY,
    build_id    TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL CHECK (from_status IN ('', 'queued', 'in_progress', 'done', 'error')),
    to_status   TEXT NOT NULL CHECK (to_status IN ('queued', 'in_progress', 'done', 'error')),
    reason      TEXT NOT NULL DEFAULT '' CHECK (reason IN ('', 'dispatch_failed', 'build_failed', 'cancelled', 'timed_out', 'package_missing')),
    source      TEXT NOT NULL CHECK (source IN ('api', 'webhook', 'poller', 'sweeper')),
    detail      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX build_events_build_id_idx ON build_events (build_id, id);

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    action      TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL
) STRICT;

CREATE TABLE build_requests (
    id             INTEGER PRIMARY KEY,
    received_at    TEXT NOT NULL,
    kernel_version TEXT NOT NULL,
    architecture   TEXT NOT NULL,
    distribution   TEXT NOT NULL,
    distro_version TEXT NOT NULL,
    driver_version TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    http_status    INTEGER NOT NULL,
    build_id       TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX build_requests_received_at_idx ON build_requests (received_at);

CREATE TABLE releases (
    tag          TEXT PRIMARY KEY,
    release_id   INTEGER NOT NULL,
    etag         TEXT NOT NULL DEFAULT '',
    refreshed_at TEXT
) STRICT;

CREATE TABLE release_assets (
    tag            TEXT NOT NULL,
    name           TEXT NOT NULL,
    asset_id       INTEGER NOT NULL,
    download_url   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    digest         TEXT NOT NULL DEFAULT '',
    distro_version TEXT NOT NULL DEFAULT '',
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tag, name)
) STRICT;

-- +goose Down
DROP TABLE release_assets;
DROP TABLE releases;
DROP TABLE build_requests;
DROP TABLE webhook_deliveries;
DROP TABLE build_events;
DROP TABLE builds;
