package readmodel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/workflows"
)

const workflowColumns = `id, coalesce(action, ''), status, coalesce(error, ''), vars::text, coalesce(output::text, ''),
    transitions::text, started_at, finished_at, updated_at, version, position_major, position_minor`

const saveWorkflowsSQL = `
INSERT INTO workflows (id, action, status, error, vars, output, transitions, started_at, finished_at,
    updated_at, version, position_major, position_minor)
SELECT u.id, NULLIF(u.action, ''), u.status, NULLIF(u.error, ''), u.vars::jsonb, NULLIF(u.output, '')::jsonb,
    u.transitions::jsonb, u.started_at, u.finished_at, u.updated_at, u.version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::int8[], $12::int8[], $13::int8[])
    AS u(id, action, status, error, vars, output, transitions, started_at, finished_at, updated_at,
    version, position_major, position_minor)
ON CONFLICT (id) DO UPDATE SET
    action = excluded.action, status = excluded.status, error = excluded.error, vars = excluded.vars,
    output = excluded.output, transitions = excluded.transitions, started_at = excluded.started_at,
    finished_at = excluded.finished_at, updated_at = excluded.updated_at, version = excluded.version,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

const runColumns = `child_execution_id, workflow_id, task, item_index, item_count, attempt, coalesce(action, ''),
    status, coalesce(result::text, ''), retried, coalesce(retry_reason, ''), not_before, scheduled_at,
    finished_at, updated_at, scheduled_major, scheduled_minor, position_major, position_minor, held,
    coalesce(reused_from, '')`

const saveRunsSQL = `
INSERT INTO workflow_tasks (child_execution_id, workflow_id, task, item_index, item_count, attempt, action,
    status, result, retried, retry_reason, not_before, scheduled_at, finished_at, updated_at,
    scheduled_major, scheduled_minor, position_major, position_minor, held, reused_from)
SELECT u.child_execution_id, u.workflow_id, u.task, u.item_index, u.item_count, u.attempt, NULLIF(u.action, ''),
    u.status, NULLIF(u.result, '')::jsonb, u.retried, NULLIF(u.retry_reason, ''), u.not_before, u.scheduled_at,
    u.finished_at, u.updated_at, u.scheduled_major, u.scheduled_minor, u.position_major, u.position_minor,
    u.held, NULLIF(u.reused_from, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[], $7::text[], $8::text[],
    $9::text[], $10::bool[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[],
    $15::timestamptz[], $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::bool[], $21::text[])
    AS u(child_execution_id, workflow_id, task, item_index, item_count, attempt, action, status, result,
    retried, retry_reason, not_before, scheduled_at, finished_at, updated_at, scheduled_major,
    scheduled_minor, position_major, position_minor, held, reused_from)
ON CONFLICT (child_execution_id) DO UPDATE SET
    workflow_id = excluded.workflow_id, task = excluded.task, item_index = excluded.item_index,
    item_count = excluded.item_count, attempt = excluded.attempt, action = excluded.action,
    status = excluded.status, result = excluded.result, retried = excluded.retried,
    retry_reason = excluded.retry_reason, not_before = excluded.not_before,
    scheduled_at = excluded.scheduled_at, finished_at = excluded.finished_at,
    updated_at = excluded.updated_at, scheduled_major = excluded.scheduled_major,
    scheduled_minor = excluded.scheduled_minor, position_major = excluded.position_major,
    position_minor = excluded.position_minor, held = excluded.held, reused_from = excluded.reused_from`

// loadRunsSQL finds runs by child, or every item of one attempt of one task (a retry).
const loadRunsSQL = `SELECT ` + runColumns + ` FROM workflow_tasks WHERE child_execution_id = ANY($1)
UNION
SELECT ` + runColumns + ` FROM workflow_tasks
WHERE (workflow_id, task, attempt) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::int4[]))`

func scanWorkflow(row pgx.Row) (workflows.Workflow, error) {
	var (
		w                  workflows.Workflow
		status, vars, out  string
		transitions        string
		started, finished  pgtype.Timestamptz
		posMajor, posMinor int64
	)
	err := row.Scan(&w.ID, &w.Action, &status, &w.Error, &vars, &out, &transitions, &started, &finished,
		&w.UpdatedAt, &w.Version, &posMajor, &posMinor)
	if err != nil {
		return workflows.Workflow{}, err
	}
	w.Status, w.Vars = execution.Status(status), json.RawMessage(vars)
	if out != "" {
		w.Output = json.RawMessage(out)
	}
	if err := json.Unmarshal([]byte(transitions), &w.Transitions); err != nil {
		return workflows.Workflow{}, fmt.Errorf("transitions of workflow %s: %w", w.ID, err)
	}
	if len(w.Transitions) == 0 {
		w.Transitions = nil // as the fold leaves a workflow no task has finished in
	}
	for i := range w.Transitions {
		w.Transitions[i].At = w.Transitions[i].At.UTC()
	}
	w.StartedAt, w.FinishedAt, w.UpdatedAt = started.Time.UTC(), finished.Time.UTC(), w.UpdatedAt.UTC()
	w.Position = positionOf(posMajor, posMinor)
	return w, nil
}

func scanRun(row pgx.Row) (workflows.Run, error) {
	var (
		r                   workflows.Run
		index, count        pgtype.Int4
		attempt             int32
		status, result      string
		notBefore, finished pgtype.Timestamptz
		schMajor, schMinor  int64
		posMajor, posMinor  int64
	)
	err := row.Scan(&r.ChildID, &r.WorkflowID, &r.Task, &index, &count, &attempt, &r.Action, &status, &result,
		&r.Retried, &r.RetryReason, &notBefore, &r.ScheduledAt, &finished, &r.UpdatedAt,
		&schMajor, &schMinor, &posMajor, &posMinor, &r.Held, &r.ReusedFrom)
	if err != nil {
		return workflows.Run{}, err
	}
	if index.Valid {
		r.Item = &workflow.Item{Index: int(index.Int32), Count: int(count.Int32)}
	}
	r.Attempt, r.Status = int(attempt), workflows.RunStatus(status)
	if result != "" {
		r.Result = json.RawMessage(result)
	}
	r.NotBefore, r.FinishedAt = notBefore.Time.UTC(), finished.Time.UTC()
	r.ScheduledAt, r.UpdatedAt = r.ScheduledAt.UTC(), r.UpdatedAt.UTC()
	r.ScheduledPosition, r.Position = positionOf(schMajor, schMinor), positionOf(posMajor, posMinor)
	return r, nil
}

// LoadWorkflows implements workflows.Store.
func (s *txStore) LoadWorkflows(ctx context.Context, ids []string) (map[string]workflows.Workflow, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d workflows", len(ids)),
		`SELECT `+workflowColumns+` FROM workflows WHERE id = ANY($1)`, []any{ids},
		scanWorkflow, func(w workflows.Workflow) string { return w.ID })
}

// SaveWorkflows implements workflows.Store.
func (s *txStore) SaveWorkflows(ctx context.Context, ws []workflows.Workflow) error {
	if len(ws) == 0 {
		return nil
	}
	transitions := make([]string, len(ws))
	for i, w := range ws {
		ts := w.Transitions
		if ts == nil {
			ts = []workflows.Transition{}
		}
		b, err := json.Marshal(ts)
		if err != nil {
			return fmt.Errorf("save workflow %s: %w", w.ID, err)
		}
		transitions[i] = string(b)
	}
	type w = workflows.Workflow
	_, err := s.tx.Exec(ctx, saveWorkflowsSQL,
		column(ws, func(w w) string { return w.ID }),
		column(ws, func(w w) string { return w.Action }),
		column(ws, func(w w) string { return string(w.Status) }),
		column(ws, func(w w) string { return w.Error }),
		column(ws, func(w w) string {
			if len(w.Vars) == 0 {
				return `{}`
			}
			return string(w.Vars)
		}),
		column(ws, func(w w) string { return string(w.Output) }),
		transitions,
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.StartedAt) }),
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.FinishedAt) }),
		column(ws, func(w w) pgtype.Timestamptz { return timestamp(w.UpdatedAt) }),
		column(ws, func(w w) int64 { return w.Version }),
		column(ws, func(w w) int64 { return int64(w.Position.Major) }),
		column(ws, func(w w) int64 { return int64(w.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d workflows: %w", len(ws), err)
	}
	return nil
}

// LoadWorkflowRuns implements workflows.Store.
func (s *txStore) LoadWorkflowRuns(ctx context.Context, children []string, refs []workflows.RunRef) (map[string]workflows.Run, error) {
	type r = workflows.RunRef
	if children == nil {
		children = []string{}
	}
	return loadRows(ctx, s.tx, fmt.Sprintf("runs of %d children and %d retries", len(children), len(refs)), loadRunsSQL,
		[]any{children, column(refs, func(r r) string { return r.WorkflowID }), column(refs, func(r r) string { return r.Task }),
			column(refs, func(r r) int32 { return int32(r.Attempt) })},
		scanRun, func(r workflows.Run) string { return r.ChildID })
}

// SaveWorkflowRuns implements workflows.Store.
func (s *txStore) SaveWorkflowRuns(ctx context.Context, rs []workflows.Run) error {
	if len(rs) == 0 {
		return nil
	}
	type r = workflows.Run
	item := func(get func(*workflow.Item) int) func(r) pgtype.Int4 {
		return func(r r) pgtype.Int4 {
			if r.Item == nil {
				return pgtype.Int4{}
			}
			return pgtype.Int4{Int32: int32(get(r.Item)), Valid: true}
		}
	}
	_, err := s.tx.Exec(ctx, saveRunsSQL,
		column(rs, func(r r) string { return r.ChildID }),
		column(rs, func(r r) string { return r.WorkflowID }),
		column(rs, func(r r) string { return r.Task }),
		column(rs, item(func(i *workflow.Item) int { return i.Index })),
		column(rs, item(func(i *workflow.Item) int { return i.Count })),
		column(rs, func(r r) int32 { return int32(r.Attempt) }),
		column(rs, func(r r) string { return r.Action }),
		column(rs, func(r r) string { return string(r.Status) }),
		column(rs, func(r r) string { return string(r.Result) }),
		column(rs, func(r r) bool { return r.Retried }),
		column(rs, func(r r) string { return r.RetryReason }),
		column(rs, func(r r) pgtype.Timestamptz { return timestamp(r.NotBefore) }),
		column(rs, func(r r) pgtype.Timestamptz { return timestamp(r.ScheduledAt) }),
		column(rs, func(r r) pgtype.Timestamptz { return timestamp(r.FinishedAt) }),
		column(rs, func(r r) pgtype.Timestamptz { return timestamp(r.UpdatedAt) }),
		column(rs, func(r r) int64 { return int64(r.ScheduledPosition.Major) }),
		column(rs, func(r r) int64 { return int64(r.ScheduledPosition.Minor) }),
		column(rs, func(r r) int64 { return int64(r.Position.Major) }),
		column(rs, func(r r) int64 { return int64(r.Position.Minor) }),
		column(rs, func(r r) bool { return r.Held }),
		column(rs, func(r r) string { return r.ReusedFrom }),
	)
	if err != nil {
		return fmt.Errorf("save %d workflow runs: %w", len(rs), err)
	}
	return nil
}

// workflowTreeSQL lists the workflow and, level by level, its children that are workflows
// themselves, one level past MaxDepth (those are only marked truncated).
const workflowTreeSQL = `
WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM workflows WHERE id = $1
    UNION ALL
    SELECT w.id, t.depth + 1 FROM tree t
    JOIN workflow_tasks r ON r.workflow_id = t.id
    JOIN workflows w ON w.id = r.child_execution_id
    WHERE t.depth <= $2
)
SELECT id, depth FROM tree`

// GetWorkflow returns the workflow tree of a parent execution (workflows.Build), or
// workflows.ErrNotFound when the execution is not a workflow the read model holds. The
// workflow tables are read in one snapshot; the executions of the tree are as current as
// their own projection.
func (d *DB) GetWorkflow(ctx context.Context, executionID string) (workflows.Tree, error) {
	var parts workflows.Parts
	err := pgx.BeginFunc(ctx, d.q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`); err != nil {
			return err
		}
		type level struct {
			id    string
			depth int
		}
		levels, err := collect(ctx, tx, workflowTreeSQL, []any{executionID, workflows.MaxDepth}, func(r pgx.Row) (level, error) {
			var l level
			return l, r.Scan(&l.id, &l.depth)
		})
		if err != nil {
			return fmt.Errorf("levels: %w", err)
		}
		var ids []string
		parts.Deeper = map[string]bool{}
		for _, l := range levels {
			if l.depth > workflows.MaxDepth {
				parts.Deeper[l.id] = true
			} else {
				ids = append(ids, l.id)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		wfs, err := collect(ctx, tx, `SELECT `+workflowColumns+` FROM workflows WHERE id = ANY($1)`, []any{ids}, scanWorkflow)
		if err != nil {
			return fmt.Errorf("workflows: %w", err)
		}
		parts.Workflows = map[string]workflows.Workflow{}
		for _, w := range wfs {
			parts.Workflows[w.ID] = w
		}
		parts.Runs, err = collect(ctx, tx, `SELECT `+runColumns+` FROM workflow_tasks WHERE workflow_id = ANY($1)
ORDER BY scheduled_major, scheduled_minor, child_execution_id`, []any{ids}, scanRun)
		if err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		xids := append([]string{}, ids...)
		for _, r := range parts.Runs {
			xids = append(xids, r.ChildID)
		}
		xs, err := collect(ctx, tx, `SELECT `+listColumns+` FROM executions WHERE id = ANY($1)`, []any{xids}, scanExecution)
		if err != nil {
			return fmt.Errorf("executions: %w", err)
		}
		parts.Executions = make(map[string]executions.Execution, len(xs))
		for _, x := range xs {
			parts.Executions[x.ID] = x
		}
		return nil
	})
	if err != nil {
		return workflows.Tree{}, fmt.Errorf("workflow tree of %s: %w", executionID, err)
	}
	return workflows.Build(executionID, parts)
}
