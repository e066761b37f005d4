-- +goose Up
-- Live output (adapters/liveoutput): the chunks of stdout/stderr a worker writes while an
-- action runs, for GET /api/v1/executions/{id}/output. Not a read model and not in the log
-- (ExecutionStatusChanged keeps the final, capped output): a bounded buffer, capped per
-- execution and stream by the worker, and swept some minutes after the run ended.
CREATE TABLE execution_output (
    execution_id text        NOT NULL,
    seq          bigint      NOT NULL,
    stream       text        NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    data         text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, seq)
);
CREATE INDEX execution_output_at ON execution_output (at);

-- When the worker finished writing an execution's output: the sweep deletes its chunks a
-- TTL after this.
CREATE TABLE execution_output_ends (
    execution_id text        PRIMARY KEY,
    ended_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_output_ends_at ON execution_output_ends (ended_at);

-- +goose Down
DROP TABLE execution_output_ends;
DROP TABLE execution_output;
