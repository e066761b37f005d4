-- +goose Up
-- The workflow tree read model (projections/workflows; adapters/readmodel writes it), folded
-- from the workflow events of each parent execution's stream. Like every read model, each
-- value derives from the log and the tables can be truncated and rebuilt. Children are
-- ordinary executions: the tree joins their rows from executions when it is read.

-- One row per workflow run, keyed by its parent execution.
CREATE TABLE workflows (
    id             text PRIMARY KEY,     -- the parent execution
    action         text,
    status         text        NOT NULL, -- running, then the workflow's outcome
    error          text,
    vars           jsonb       NOT NULL, -- initial vars overwritten by every publish
    output         jsonb,
    transitions    jsonb       NOT NULL, -- [{task, status, published, next, at}], in order
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL, -- stream version of the last workflow event applied
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);

-- One row per task run: one item, one attempt, one child execution.
CREATE TABLE workflow_tasks (
    child_execution_id text PRIMARY KEY,
    workflow_id        text        NOT NULL,
    task               text        NOT NULL,
    item_index         integer,              -- NULL unless the task has with-items
    item_count         integer,
    attempt            integer     NOT NULL,
    action             text,
    status             text        NOT NULL, -- scheduled, succeeded, failed, timed_out, cancelled, abandoned
    result             jsonb,
    retried            boolean     NOT NULL,
    retry_reason       text,
    not_before         timestamptz,
    scheduled_at       timestamptz NOT NULL,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL,
    scheduled_major    bigint      NOT NULL, -- where the run was scheduled: the tree's order
    scheduled_minor    bigint      NOT NULL,
    position_major     bigint      NOT NULL,
    position_minor     bigint      NOT NULL
);
-- A tree reads a workflow's runs in scheduling order; a retry finds its run by task and attempt.
CREATE INDEX workflow_tasks_workflow ON workflow_tasks (workflow_id, scheduled_major, scheduled_minor);
CREATE INDEX workflow_tasks_attempt  ON workflow_tasks (workflow_id, task, attempt);

-- +goose Down
DROP TABLE workflow_tasks;
DROP TABLE workflows;
