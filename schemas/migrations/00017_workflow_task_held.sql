-- +goose Up
-- Workflow pause and re-run from a task (projections/workflows): a run scheduled while its
-- workflow was held (paused, or a child waiting for an answer) is held until the hold lifts;
-- a run of a re-run may reuse the result of a child execution of the workflow it re-runs.
ALTER TABLE workflow_tasks
    ADD COLUMN held        boolean NOT NULL DEFAULT false,
    ADD COLUMN reused_from text;

-- +goose Down
ALTER TABLE workflow_tasks DROP COLUMN held, DROP COLUMN reused_from;
