-- +goose Up
-- The dependency environments of packs (virtualenvs, node_modules) a worker built or is
-- building on its host, as its last beat reported them: [{pack, kind, sha256, state, dir,
-- log, reason}]. Per-host state, like the rest of this table, not a fact for the log: a
-- fresh host rebuilds from the same files. `attune worker envs` shows it.
ALTER TABLE workers_live ADD COLUMN pack_envs jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE workers_live DROP COLUMN pack_envs;
