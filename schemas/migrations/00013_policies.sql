-- +goose Up
-- The policies read model (projections/policies; adapters/readmodel writes it) and the link from
-- an execution to its retry. Like every read model, each value derives from the log and the
-- tables can be truncated and rebuilt; optional text is NULL rather than ''.

-- One row per policy ever registered (PackRegistered, PackRetired), with its totals.
CREATE TABLE policies (
    ref               text PRIMARY KEY,
    pack              text        NOT NULL,
    action            text        NOT NULL,
    type              text        NOT NULL, -- concurrency | rate_limit | retry
    enabled           boolean     NOT NULL,
    description       text,
    spec              jsonb,                -- the type's parameters, as registered
    file              text,                 -- policies/<name>.yaml
    refused           bigint      NOT NULL, -- ExecutionRefused naming it
    retries_scheduled bigint      NOT NULL, -- ExecutionRetryScheduled naming it
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    retired_at        timestamptz,
    position_major    bigint      NOT NULL,
    position_minor    bigint      NOT NULL
);
CREATE INDEX policies_pack   ON policies (pack, ref);
CREATE INDEX policies_action ON policies (action, ref);

-- One row per execution a policy holds now: a slot (running) or a queue place (queued) from
-- the policy's queue stream, or a rate limit's delay (delayed) from the execution's stream.
-- Released, the row goes: live counts are counts of these rows.
CREATE TABLE policy_members (
    policy         text        NOT NULL,
    execution_id   text        NOT NULL,
    hold           text        NOT NULL, -- slot | delay
    key            text        NOT NULL, -- the values of the policy's attributes ('' for none)
    state          text        NOT NULL, -- running | queued | delayed
    since          timestamptz NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL,
    PRIMARY KEY (policy, execution_id, hold)
);
CREATE INDEX policy_members_execution ON policy_members (execution_id);

-- The retry that a retry policy scheduled for an execution (ExecutionRetryScheduled on its
-- stream), and which retry of its chain an execution is (ExecutionRequested.retry_attempt).
ALTER TABLE executions ADD COLUMN retried_by text;
ALTER TABLE executions ADD COLUMN retry_attempt integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE executions DROP COLUMN retry_attempt;
ALTER TABLE executions DROP COLUMN retried_by;
DROP TABLE policy_members;
DROP TABLE policies;
