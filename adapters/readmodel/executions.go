package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

// executionColumns is the column list every read of executions scans, in scanExecution's
// order. Optional text is stored NULL and read back as the empty string. listColumns leaves the captured
// output out: a page of executions should not carry megabytes of stdout.
var (
	executionColumns = buildExecutionColumns(`coalesce(stdout, '')`, `coalesce(stderr, '')`)
	listColumns      = buildExecutionColumns(`''`, `''`)
)

func buildExecutionColumns(stdout, stderr string) string {
	return strings.Join([]string{
		`id`, `action`, `coalesce(runner_type, '')`, `status`,
		`coalesce(parameters::text, '')`, `coalesce(result::text, '')`, `exit_code`,
		`coalesce(reason, '')`, stdout, stderr, `output_truncated`,
		`coalesce(parent, '')`, `coalesce(workflow_task, '')`, `coalesce(enforcement, '')`,
		`coalesce(rule, '')`, `coalesce(trigger, '')`, `coalesce(trigger_event, '')`,
		`coalesce(rerun_of, '')`, `coalesce(retry_of, '')`, `coalesce(worker, '')`,
		`coalesce(runtime, '')`, `coalesce(trace_tag, '')`,
		`created_at`, `started_at`, `finished_at`, `updated_at`,
		`version`, `position_major`, `position_minor`,
		`coalesce(retried_by, '')`, `retry_attempt`,
	}, ", ")
}

func scanExecution(row pgx.Row) (executions.Execution, error) {
	var (
		x                  executions.Execution
		status, params     string
		result             string
		exitCode           pgtype.Int4
		started, finished  pgtype.Timestamptz
		posMajor, posMinor int64
	)
	err := row.Scan(&x.ID, &x.Action, &x.RunnerType, &status, &params, &result, &exitCode,
		&x.Reason, &x.Stdout, &x.Stderr, &x.OutputTruncated,
		&x.Parent, &x.WorkflowTask, &x.Enforcement, &x.Rule, &x.Trigger, &x.TriggerEvent,
		&x.RerunOf, &x.RetryOf, &x.Worker, &x.Runtime, &x.TraceTag,
		&x.CreatedAt, &started, &finished, &x.UpdatedAt,
		&x.Version, &posMajor, &posMinor, &x.RetriedBy, &x.RetryAttempt)
	if err != nil {
		return executions.Execution{}, err
	}
	x.Status = execution.Status(status)
	if params != "" {
		x.Parameters = json.RawMessage(params)
	}
	if result != "" {
		x.Result = json.RawMessage(result)
	}
	if exitCode.Valid {
		c := int(exitCode.Int32)
		x.ExitCode = &c
	}
	// Postgres hands times back in the session's zone; the read model speaks UTC.
	x.CreatedAt, x.UpdatedAt = x.CreatedAt.UTC(), x.UpdatedAt.UTC()
	x.StartedAt, x.FinishedAt = started.Time.UTC(), finished.Time.UTC()
	x.Position = eventstore.Position{Major: uint64(posMajor), Minor: uint64(posMinor)}
	return x, nil
}

// saveExecutionsSQL upserts whole rows from one array per column: one statement per batch,
// however many rows (about ten times the rows per second of one INSERT per row).
const saveExecutionsSQL = `
INSERT INTO executions (id, action, runner_type, status, parameters, result, exit_code, reason,
    stdout, stderr, output_truncated, parent, workflow_task, enforcement, rule, trigger,
    trigger_event, rerun_of, retry_of, worker, runtime, trace_tag,
    created_at, started_at, finished_at, updated_at, version, position_major, position_minor,
    retried_by, retry_attempt)
SELECT u.id, u.action, NULLIF(u.runner_type, ''), u.status, NULLIF(u.parameters, '')::jsonb,
    NULLIF(u.result, '')::jsonb, u.exit_code, NULLIF(u.reason, ''), NULLIF(u.stdout, ''),
    NULLIF(u.stderr, ''), u.output_truncated, NULLIF(u.parent, ''), NULLIF(u.workflow_task, ''),
    NULLIF(u.enforcement, ''), NULLIF(u.rule, ''), NULLIF(u.trigger, ''),
    NULLIF(u.trigger_event, ''), NULLIF(u.rerun_of, ''), NULLIF(u.retry_of, ''),
    NULLIF(u.worker, ''), NULLIF(u.runtime, ''), NULLIF(u.trace_tag, ''),
    u.created_at, u.started_at, u.finished_at, u.updated_at, u.version, u.position_major, u.position_minor,
    NULLIF(u.retried_by, ''), u.retry_attempt
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int4[],
    $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[], $13::text[], $14::text[],
    $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
    $22::text[], $23::timestamptz[], $24::timestamptz[], $25::timestamptz[], $26::timestamptz[],
    $27::int8[], $28::int8[], $29::int8[], $30::text[], $31::int4[])
    AS u(id, action, runner_type, status, parameters, result, exit_code, reason, stdout, stderr,
    output_truncated, parent, workflow_task, enforcement, rule, trigger, trigger_event, rerun_of,
    retry_of, worker, runtime, trace_tag, created_at, started_at, finished_at, updated_at, version,
    position_major, position_minor, retried_by, retry_attempt)
ON CONFLICT (id) DO UPDATE SET
    action = excluded.action, runner_type = excluded.runner_type, status = excluded.status,
    parameters = excluded.parameters, result = excluded.result, exit_code = excluded.exit_code,
    reason = excluded.reason, stdout = excluded.stdout, stderr = excluded.stderr,
    output_truncated = excluded.output_truncated, parent = excluded.parent,
    workflow_task = excluded.workflow_task, enforcement = excluded.enforcement,
    rule = excluded.rule, trigger = excluded.trigger, trigger_event = excluded.trigger_event,
    rerun_of = excluded.rerun_of, retry_of = excluded.retry_of, worker = excluded.worker,
    runtime = excluded.runtime, trace_tag = excluded.trace_tag, created_at = excluded.created_at,
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    updated_at = excluded.updated_at, version = excluded.version,
    position_major = excluded.position_major, position_minor = excluded.position_minor,
    retried_by = excluded.retried_by, retry_attempt = excluded.retry_attempt`

// LoadExecutions implements executions.Store.
func (s *txStore) LoadExecutions(ctx context.Context, ids []string) (map[string]executions.Execution, error) {
	rows, err := s.tx.Query(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ANY($1)`, oneShot, ids)
	if err != nil {
		return nil, fmt.Errorf("load %d executions: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[string]executions.Execution, len(ids))
	for rows.Next() {
		x, err := scanExecution(rows)
		if err != nil {
			return nil, fmt.Errorf("load executions: %w", err)
		}
		out[x.ID] = x
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %d executions: %w", len(ids), err)
	}
	return out, nil
}

// SaveExecutions implements executions.Store.
func (s *txStore) SaveExecutions(ctx context.Context, xs []executions.Execution) error {
	if len(xs) == 0 {
		return nil
	}
	type x = executions.Execution
	// One array per column, in the order of saveExecutionsSQL's unnest.
	_, err := s.tx.Exec(ctx, saveExecutionsSQL,
		column(xs, func(x x) string { return x.ID }),
		column(xs, func(x x) string { return x.Action }),
		column(xs, func(x x) string { return x.RunnerType }),
		column(xs, func(x x) string { return string(x.Status) }),
		column(xs, func(x x) string { return string(x.Parameters) }),
		column(xs, func(x x) string { return string(x.Result) }),
		column(xs, func(x x) pgtype.Int4 {
			if x.ExitCode == nil {
				return pgtype.Int4{}
			}
			return pgtype.Int4{Int32: int32(*x.ExitCode), Valid: true}
		}),
		column(xs, func(x x) string { return x.Reason }),
		column(xs, func(x x) string { return x.Stdout }),
		column(xs, func(x x) string { return x.Stderr }),
		column(xs, func(x x) bool { return x.OutputTruncated }),
		column(xs, func(x x) string { return x.Parent }),
		column(xs, func(x x) string { return x.WorkflowTask }),
		column(xs, func(x x) string { return x.Enforcement }),
		column(xs, func(x x) string { return x.Rule }),
		column(xs, func(x x) string { return x.Trigger }),
		column(xs, func(x x) string { return x.TriggerEvent }),
		column(xs, func(x x) string { return x.RerunOf }),
		column(xs, func(x x) string { return x.RetryOf }),
		column(xs, func(x x) string { return x.Worker }),
		column(xs, func(x x) string { return x.Runtime }),
		column(xs, func(x x) string { return x.TraceTag }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.CreatedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.StartedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.FinishedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.UpdatedAt) }),
		column(xs, func(x x) int64 { return x.Version }),
		column(xs, func(x x) int64 { return int64(x.Position.Major) }),
		column(xs, func(x x) int64 { return int64(x.Position.Minor) }),
		column(xs, func(x x) string { return x.RetriedBy }),
		column(xs, func(x x) int32 { return int32(x.RetryAttempt) }),
	)
	if err != nil {
		return fmt.Errorf("save %d executions: %w", len(xs), err)
	}
	return nil
}

// column extracts one column of rows, to bind as an array parameter.
func column[R, T any](rows []R, f func(R) T) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// timestamp maps the zero time (not yet) to NULL.
func timestamp(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// GetExecution returns one execution with its captured output, or executions.ErrNotFound.
func (d *DB) GetExecution(ctx context.Context, id string) (executions.Execution, error) {
	x, err := scanExecution(d.q.QueryRow(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = $1`, oneShot, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return executions.Execution{}, fmt.Errorf("get execution %s: %w", id, executions.ErrNotFound)
	}
	if err != nil {
		return executions.Execution{}, fmt.Errorf("get execution %s: %w", id, err)
	}
	return x, nil
}

// ListExecutions returns one page of executions, newest first, matching f. Each filter
// becomes one condition on an indexed column; the cursor is a keyset condition on
// (created_at, id), so no page reads the rows of the pages before it.
func (d *DB) ListExecutions(ctx context.Context, f executions.Filter) (executions.Page, error) {
	if err := f.Validate(); err != nil {
		return executions.Page{}, fmt.Errorf("list executions: %w", err)
	}
	var (
		where []string
		args  []any
	)
	cond := func(format string, vs ...any) {
		ns := make([]any, len(vs))
		for i, v := range vs {
			args = append(args, v)
			ns[i] = len(args)
		}
		where = append(where, fmt.Sprintf(format, ns...))
	}
	if len(f.Status) > 0 {
		ss := make([]string, len(f.Status))
		for i, s := range f.Status {
			ss[i] = string(s)
		}
		cond(`status = ANY($%d)`, ss)
	}
	for _, eq := range []struct{ column, value string }{
		{`action`, f.Action}, {`rule`, f.Rule}, {`trigger`, f.Trigger},
		{`parent`, f.Parent}, {`trace_tag`, f.TraceTag},
	} {
		if eq.value != "" {
			cond(eq.column+` = $%d`, eq.value)
		}
	}
	if !f.Since.IsZero() {
		cond(`created_at >= $%d`, f.Since)
	}
	if !f.Until.IsZero() {
		cond(`created_at < $%d`, f.Until)
	}
	if key, ok, _ := executions.ParseCursor(f.Cursor); ok { // Validate has checked it
		cond(`(created_at, id) < ($%d, $%d)`, key.CreatedAt, key.ID)
	}
	limit := f.PageSize()
	args = append(args, limit+1) // one more tells whether a next page exists
	sql := `SELECT ` + listColumns + ` FROM executions`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sql += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))

	rows, err := d.q.Query(ctx, sql, append([]any{oneShot}, args...)...)
	if err != nil {
		return executions.Page{}, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	var page executions.Page
	for rows.Next() {
		x, err := scanExecution(rows)
		if err != nil {
			return executions.Page{}, fmt.Errorf("list executions: %w", err)
		}
		page.Items = append(page.Items, x)
	}
	if err := rows.Err(); err != nil {
		return executions.Page{}, fmt.Errorf("list executions: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = executions.Cursor(page.Items[limit-1])
	}
	return page, nil
}
