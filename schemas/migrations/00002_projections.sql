-- +goose Up
-- Read models projected from the log by projections/ (adapters/readmodel writes them). Every
-- value derives from the log, so any of these tables can be truncated and rebuilt; optional
-- text is NULL rather than '' so the partial indexes below stay small.

-- One row per execution. Listed newest first with keyset pagination on (created_at, id);
-- each filter the API offers has an index ending in that key, so a filtered page is one
-- index range scan however deep it is.
CREATE TABLE executions (
    id               text PRIMARY KEY,
    action           text        NOT NULL,
    runner_type      text,
    status           text        NOT NULL,
    parameters       jsonb,
    result           jsonb,
    exit_code        integer,
    reason           text,
    stdout           text,
    stderr           text,
    output_truncated boolean     NOT NULL DEFAULT false,
    parent           text,
    workflow_task    text,
    enforcement      text,
    rule             text,
    trigger          text,
    trigger_event    text,
    rerun_of         text,
    retry_of         text,
    worker           text,
    runtime          text,
    trace_tag        text,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL, -- stream version of the last event applied
    position_major   bigint      NOT NULL, -- log position of the last event applied
    position_minor   bigint      NOT NULL
);
CREATE INDEX executions_created   ON executions (created_at, id);
CREATE INDEX executions_status    ON executions (status, created_at, id);
CREATE INDEX executions_action    ON executions (action, created_at, id);
CREATE INDEX executions_rule      ON executions (rule, created_at, id) WHERE rule IS NOT NULL;
CREATE INDEX executions_trigger   ON executions (trigger, created_at, id) WHERE trigger IS NOT NULL;
CREATE INDEX executions_parent    ON executions (parent, created_at, id) WHERE parent IS NOT NULL;
CREATE INDEX executions_trace_tag ON executions (trace_tag, created_at, id) WHERE trace_tag IS NOT NULL;

-- One row per stream of the log.
CREATE TABLE streams (
    stream_id      text PRIMARY KEY,
    category       text        NOT NULL, -- stream_id up to its first '-'
    version        bigint      NOT NULL,
    event_count    bigint      NOT NULL,
    first_type     text        NOT NULL,
    last_type      text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);
CREATE INDEX streams_category ON streams (category, stream_id);

-- +goose Down
DROP TABLE streams;
DROP TABLE executions;
