-- +goose Up
-- The executions still requested, by action and id: admission looks up those of an action
-- requested before the one it decides on, so that a policy admits in request order
-- (handlers/admission). Only requested rows are in it, so it stays as small as the number of
-- executions on their way to the scheduler.
CREATE INDEX executions_requested ON executions (action, id) WHERE status = 'requested';

-- +goose Down
DROP INDEX executions_requested;
