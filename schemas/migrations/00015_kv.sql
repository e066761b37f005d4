-- +goose Up
-- The kv read model (projections/keys): one row per key of the key-value store that holds a
-- value. A secret key's value is stored sealed, as the log has it. A row whose expires_at has
-- passed is hidden by every query until the reaper records KeyExpired and the row goes.
CREATE TABLE kv_keys (
    stream_id      text PRIMARY KEY,   -- kv-system-<name> | kv-pack-<pack>.<name>: the list's order
    scope          text        NOT NULL CHECK (scope IN ('system', 'pack')),
    pack           text        NOT NULL DEFAULT '', -- '' for a system key
    name           text        NOT NULL,
    value          jsonb       NOT NULL,
    secret         boolean     NOT NULL,
    expires_at     timestamptz,
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL DEFAULT '',
    stream_version bigint      NOT NULL,
    position_major bigint      NOT NULL,
    position_minor bigint      NOT NULL,
    UNIQUE (scope, pack, name)
);
-- The reaper's sweep of expired keys is a range on expires_at.
CREATE INDEX kv_keys_expires_at ON kv_keys (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP TABLE kv_keys;
