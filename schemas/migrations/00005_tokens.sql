-- +goose Up
-- API bearer tokens (adapters/auth). Access control is configuration of the deployment, not
-- state of the automation domain, so it lives in a table rather than in the event log; rows
-- are never deleted (a revoked token keeps its row), so the table itself says who could do
-- what, and when. Only the SHA-256 of a token is stored: the plaintext is shown once.
CREATE TABLE api_tokens (
    id           text PRIMARY KEY,            -- ULID
    name         text        NOT NULL,        -- becomes the actor of every request made with it
    description  text        NOT NULL DEFAULT '',
    role         text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    hash         bytea       NOT NULL UNIQUE, -- sha256 of the whole token text
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    last_used_at timestamptz,                 -- refreshed at most once a minute
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    CONSTRAINT api_tokens_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);
-- A name identifies one live token (it is the actor in the log); a revoked token frees its
-- name for a successor.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_tokens;
