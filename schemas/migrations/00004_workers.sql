-- +goose Up
-- Liveness of workers (adapters/heartbeat). Heartbeats are not events (design §2): a beat
-- every few seconds per worker would swamp the log with facts nobody audits. A worker's
-- lifecycle is in the log (WorkerRegistered/WorkerDeregistered); this table only says who is
-- alive right now and how loaded, for the scheduler to choose and the reaper to notice who
-- went silent. Every time is the database's clock, so hosts with skewed clocks agree.
CREATE TABLE workers_live (
    worker_id       text PRIMARY KEY,
    name            text        NOT NULL,
    host            text        NOT NULL,
    runtimes        text[]      NOT NULL, -- canonical runner types: shell, python, node, builtin
    max_concurrency integer     NOT NULL CHECK (max_concurrency > 0),
    running         integer     NOT NULL CHECK (running >= 0), -- accepted and not yet reported
    draining        boolean     NOT NULL DEFAULT false,        -- stopping: alive, takes nothing new
    last_seen       timestamptz NOT NULL,
    started_at      timestamptz NOT NULL
);
-- The reaper's "who went silent" is a range on last_seen.
CREATE INDEX workers_live_last_seen ON workers_live (last_seen);

-- +goose Down
DROP TABLE workers_live;
