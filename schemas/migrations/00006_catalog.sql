-- +goose Up
-- The catalogue, trigger event, enforcement, worker and trace read models (projections/catalog,
-- events, enforcements, workers, causality; adapters/readmodel writes them). Like those of
-- 00002, every value derives from the log and each table can be truncated and rebuilt;
-- optional text is NULL rather than ''.

-- One row per pack: its latest registration. Retired packs keep their row (retired_at set).
CREATE TABLE packs (
    ref            text PRIMARY KEY,
    version        text        NOT NULL, -- the pack's own version (pack.yaml)
    description    text,
    config         jsonb,
    digest         text,
    path           text,
    components     jsonb       NOT NULL, -- [{kind, ref}] of the latest registration
    retired_reason text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    retired_at     timestamptz,
    stream_version bigint      NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);

-- One row per action, trigger, sensor, rule and policy ever registered; refs are unique per
-- kind. Lists are in ref order within a kind: the primary key serves them.
CREATE TABLE pack_components (
    kind            text        NOT NULL, -- action | trigger | sensor | rule | policy
    ref             text        NOT NULL,
    pack            text        NOT NULL,
    definition      jsonb       NOT NULL, -- the component as registered (domain/pack)
    trigger         text,                 -- rules
    action          text,                 -- rules, policies
    enabled         boolean     NOT NULL, -- rules: the effective state
    -- Rules: what the file says and the position of the registration that said it last, and
    -- the operator's switch when it came after (then it decides).
    file_enabled    boolean     NOT NULL,
    file_said_major bigint      NOT NULL,
    file_said_minor bigint      NOT NULL,
    switch_enabled  boolean,
    switch_actor    text,
    switch_reason   text,
    switch_at       timestamptz,
    switch_major    bigint,
    switch_minor    bigint,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    retired_at      timestamptz,
    position_major  bigint      NOT NULL,
    position_minor  bigint      NOT NULL,
    PRIMARY KEY (kind, ref)
);
CREATE INDEX pack_components_pack    ON pack_components (pack, kind, ref);
CREATE INDEX pack_components_trigger ON pack_components (trigger, ref) WHERE kind = 'rule';

-- One row per trigger event (EventFired). "events" is the log itself.
CREATE TABLE trigger_events (
    id             text PRIMARY KEY, -- EventFired.event_id
    trigger        text        NOT NULL,
    source         text        NOT NULL,
    rule           text,
    sensor         text,
    payload        jsonb,
    occurred_at    timestamptz,
    actor          text,
    trace_tag      text,
    created_at     timestamptz NOT NULL, -- recorded at
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);
CREATE INDEX trigger_events_created ON trigger_events (created_at, id);
CREATE INDEX trigger_events_trigger ON trigger_events (trigger, created_at, id);
CREATE INDEX trigger_events_source  ON trigger_events (source, created_at, id);

-- One row per enforcement, newest first like executions.
CREATE TABLE enforcements (
    id             text PRIMARY KEY,
    rule           text,
    trigger        text,
    event_id       text,
    action         text,
    parameters     jsonb,
    status         text        NOT NULL, -- created | processed | skipped
    execution_id   text,
    reason         text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);
CREATE INDEX enforcements_created ON enforcements (created_at, id);
CREATE INDEX enforcements_rule    ON enforcements (rule, created_at, id) WHERE rule IS NOT NULL;
CREATE INDEX enforcements_status  ON enforcements (status, created_at, id);
CREATE INDEX enforcements_event   ON enforcements (event_id) WHERE event_id IS NOT NULL;

-- One row per worker, from its lifecycle events. Liveness (last beat, running) is in
-- workers_live (00004): heartbeats are not events.
CREATE TABLE workers (
    worker_id       text PRIMARY KEY,
    name            text,
    host            text,
    runtimes        text[]      NOT NULL,
    max_concurrency integer     NOT NULL,
    version         text,
    status          text        NOT NULL, -- registered | deregistered
    reason          text,
    lost            boolean     NOT NULL,
    registered_at   timestamptz NOT NULL,
    deregistered_at timestamptz,
    updated_at      timestamptz NOT NULL,
    stream_version  bigint      NOT NULL,
    position_major  bigint      NOT NULL,
    position_minor  bigint      NOT NULL
);

-- The trace index: one row per event of the log with its metadata links. A trace reads the
-- events correlated with a trigger event, and those of the streams in its tree.
CREATE TABLE causality (
    event_id       text PRIMARY KEY,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL,
    type           text        NOT NULL,
    correlation_id text,
    causation_id   text,
    actor          text,
    recorded_at    timestamptz NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL
);
CREATE INDEX causality_correlation ON causality (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX causality_causation   ON causality (causation_id) WHERE causation_id IS NOT NULL;
CREATE INDEX causality_stream      ON causality (stream_id);

-- A trace finds the executions of a trigger event by these (00002 indexes only the filters
-- of the executions list).
CREATE INDEX executions_trigger_event ON executions (trigger_event) WHERE trigger_event IS NOT NULL;
CREATE INDEX executions_enforcement   ON executions (enforcement) WHERE enforcement IS NOT NULL;

-- +goose Down
DROP INDEX executions_enforcement;
DROP INDEX executions_trigger_event;
DROP TABLE causality;
DROP TABLE workers;
DROP TABLE enforcements;
DROP TABLE trigger_events;
DROP TABLE pack_components;
DROP TABLE packs;
