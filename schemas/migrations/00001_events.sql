-- +goose Up
-- The log. Rows are only ever inserted. transaction_id orders readers: an event becomes
-- visible to ReadAll only once no transaction older than its own is still running, so a
-- late commit is never skipped (design §2).
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            json        NOT NULL, -- json, not jsonb: the exact bytes are hashed
    metadata        json        NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea,
    hash            bytea       NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_cursor ON events (transaction_id, global_position);

-- One wake-up per committing transaction for the subscribers of this schema.
-- +goose StatementBegin
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('attune_events_' || current_schema(), '');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Cursor checkpoints of the relay and the projectors, keyed by their persisted names.
CREATE TABLE checkpoints (
    name           text PRIMARY KEY,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE checkpoints;
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
DROP TABLE events;
