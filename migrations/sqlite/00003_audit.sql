-- +goose Up
-- The audit API: who asked (the client's token name) and, for an invalid
-- request, the field it got wrong.
ALTER TABLE build_requests ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE build_requests ADD COLUMN field TEXT NOT NULL DEFAULT '';

-- Every list is newest first by (time, key): an index per filter, ending
-- in that order, keeps a page a short index scan at millions of rows; and
-- one for the failures of a distribution, a rare pair neither finds fast.
CREATE INDEX builds_created_at_idx ON builds (created_at, id);
CREATE INDEX builds_status_created_at_idx ON builds (status, created_at, id);
CREATE INDEX builds_status_distribution_created_at_idx ON builds (status, distribution, created_at, id);
CREATE INDEX builds_reason_created_at_idx ON builds (reason, created_at, id);
CREATE INDEX builds_distribution_created_at_idx ON builds (distribution, created_at, id);
CREATE INDEX builds_kernel_created_at_idx ON builds (kernel_version, created_at, id);
CREATE INDEX builds_driver_created_at_idx ON builds (driver_version, created_at, id);
DROP INDEX build_requests_received_at_idx;
CREATE INDEX build_requests_received_at_idx ON build_requests (received_at, id);
CREATE INDEX build_requests_outcome_idx ON build_requests (outcome, received_at, id);
CREATE INDEX build_requests_kernel_idx ON build_requests (kernel_version, received_at, id);
CREATE INDEX build_requests_client_idx ON build_requests (client, received_at, id);
CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at, delivery_id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event, received_at, delivery_id);

-- One row per status change, with the build it belongs to. Seconds are
-- seconds in both dialects.
CREATE VIEW audit_build_timeline AS
SELECT b.id AS build_id, b.cache_key, b.kernel_version, b.architecture, b.distribution,
       b.distro_version, b.driver_version, b.run_url,
       e.id AS event_id, e.from_status, e.to_status, e.reason, e.source, e.detail,
       e.created_at AS at,
       (julianday(e.created_at) - julianday(b.created_at)) * 86400.0 AS seconds_since_created
FROM build_events e
JOIN builds b ON b.id = e.build_id;

-- One row per POST /build, with what became of its build: time to driver
-- is from the request to the build's done (0 for a package already there).
CREATE VIEW audit_requests AS
SELECT r.id, r.received_at, r.client, r.kernel_version, r.architecture, r.distribution,
       r.distro_version, r.driver_version, r.outcome, r.http_status, r.field, r.error, r.build_id,
       b.status AS build_status, b.reason AS build_reason, b.finished_at AS build_finished_at,
       CASE
           WHEN r.outcome = 'cached' THEN 0.0
           WHEN b.status = 'done' THEN (julianday(b.finished_at) - julianday(r.received_at)) * 86400.0
       END AS time_to_driver_seconds
FROM build_requests r
LEFT JOIN builds b ON b.id = r.build_id AND r.build_id <> '';

-- +goose Down
DROP VIEW audit_requests;
DROP VIEW audit_build_timeline;
DROP INDEX webhook_deliveries_event_idx;
DROP INDEX webhook_deliveries_received_at_idx;
DROP INDEX build_requests_client_idx;
DROP INDEX build_requests_kernel_idx;
DROP INDEX build_requests_outcome_idx;
DROP INDEX build_requests_received_at_idx;
CREATE INDEX build_requests_received_at_idx ON build_requests (received_at);
DROP INDEX builds_driver_created_at_idx;
DROP INDEX builds_kernel_created_at_idx;
DROP INDEX builds_distribution_created_at_idx;
DROP INDEX builds_reason_created_at_idx;
DROP INDEX builds_status_distribution_created_at_idx;
DROP INDEX builds_status_created_at_idx;
DROP INDEX builds_created_at_idx;
ALTER TABLE build_requests DROP COLUMN field;
ALTER TABLE build_requests DROP COLUMN client;
