-- +goose Up
-- The inquiries read model (projections/inquiries; adapters/readmodel writes it), folded from
-- each inquiry's stream. Like every read model, each value derives from the log and the table
-- can be truncated and rebuilt.
CREATE TABLE inquiries (
    id                  text PRIMARY KEY,     -- the asking execution's id
    execution_id        text        NOT NULL,
    parent_execution_id text,                 -- the workflow execution, when a task asks
    task                text,
    route               text,
    schema              jsonb       NOT NULL,
    schema_kind         text        NOT NULL, -- flat, json_schema
    roles               text[]      NOT NULL,
    tokens              text[]      NOT NULL,
    ttl                 integer     NOT NULL,
    status              text        NOT NULL, -- pending, responded, timed_out, cancelled
    responder           text,
    response            jsonb,
    reason              text,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    responded_at        timestamptz,
    updated_at          timestamptz NOT NULL,
    version             bigint      NOT NULL,
    position_major      bigint      NOT NULL,
    position_minor      bigint      NOT NULL
);
-- Lists page newest first, by status or not; the reaper finds the pending ones due.
CREATE INDEX inquiries_created ON inquiries (created_at DESC, id DESC);
CREATE INDEX inquiries_status_created ON inquiries (status, created_at DESC, id DESC);
CREATE INDEX inquiries_pending_expiry ON inquiries (expires_at) WHERE status = 'pending';
CREATE INDEX inquiries_parent ON inquiries (parent_execution_id) WHERE parent_execution_id IS NOT NULL;

-- +goose Down
DROP TABLE inquiries;
