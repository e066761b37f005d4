-- +goose Up
-- Idempotency keys of POST /api/v1/executions and POST /api/v1/webhooks/{trigger}
-- (adapters/idempotency): the first request with a key claims the id of what it creates, and a
-- retry with the same key within 24 h gets that id back and appends into the same stream with
-- NoStream, so a crash between the claim and the append is completed by the retry and nothing
-- is created twice. Keys are not events: they are delivery bookkeeping of the API, swept after
-- 24 h, while the log keeps what was created.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL, -- route + action/trigger + caller: two clients never collide
    key          text        NOT NULL, -- the Idempotency-Key header, as sent
    request_hash text        NOT NULL, -- sha256 of the request: the same key with another body is refused
    resource_id  text        NOT NULL, -- the execution or trigger event the key created
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
