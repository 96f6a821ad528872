-- +goose Up
-- The kernels.json state of each done build; the builds of one branch
-- share its state, PR and head.
CREATE TABLE kernel_listings (
    build_id   TEXT PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    branch     TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL CHECK (state IN ('pending', 'pr_open', 'merged', 'already_listed', 'checks_failed')),
    pr_number  BIGINT NOT NULL DEFAULT 0,
    pr_url     TEXT NOT NULL DEFAULT '',
    head_sha   TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX kernel_listings_branch_idx ON kernel_listings (branch, created_at);
CREATE INDEX kernel_listings_unsettled_idx ON kernel_listings (created_at, build_id) WHERE state IN ('pending', 'pr_open');

-- +goose Down
DROP TABLE kernel_listings;
