package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// countExecutionsByStatusSQL counts over the executions_status index. It reads one index
// entry per execution: fine for a metrics scrape now and then, not for a hot path.
const countExecutionsByStatusSQL = `SELECT status, count(*) FROM executions GROUP BY status`

// CountExecutionsByStatus returns how many executions the read model holds in each status;
// a status no execution is in is absent.
func (d *DB) CountExecutionsByStatus(ctx context.Context) (map[execution.Status]int64, error) {
	rows, err := d.q.Query(ctx, countExecutionsByStatusSQL)
	if err != nil {
		return nil, fmt.Errorf("count executions by status: %w", err)
	}
	defer rows.Close()
	out := map[execution.Status]int64{}
	for rows.Next() {
		var (
			status string
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count executions by status: %w", err)
		}
		out[execution.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count executions by status: %w", err)
	}
	return out, nil
}

// oldestByStatusSQL finds, for each status asked for, the creation time of its oldest
// execution: one index probe per status (executions_status leads with status, then
// created_at), so it costs the same at a million executions as at ten.
const oldestByStatusSQL = `
SELECT s.status, (SELECT min(e.created_at) FROM executions e WHERE e.status = s.status)
FROM unnest($1::text[]) AS s(status)`

// OldestByStatus returns, for each of the statuses that some execution is in, when the
// oldest of them was created; a status no execution is in is absent.
func (d *DB) OldestByStatus(ctx context.Context, statuses ...execution.Status) (map[execution.Status]time.Time, error) {
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = string(s)
	}
	rows, err := d.q.Query(ctx, oldestByStatusSQL, names)
	if err != nil {
		return nil, fmt.Errorf("oldest execution by status: %w", err)
	}
	defer rows.Close()
	out := map[execution.Status]time.Time{}
	for rows.Next() {
		var (
			status string
			oldest *time.Time
		)
		if err := rows.Scan(&status, &oldest); err != nil {
			return nil, fmt.Errorf("oldest execution by status: %w", err)
		}
		if oldest != nil {
			out[execution.Status(status)] = oldest.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("oldest execution by status: %w", err)
	}
	return out, nil
}

// executionsPerMinuteSQL counts the executions created in [since, until) per minute and
// status. Both bounds make it a range scan of executions_created (created_at, id), under a
// generic plan too (a two-sided range is estimated narrow), never a scan of the table: the
// cost follows the executions of the window, not all of them.
const executionsPerMinuteSQL = `
SELECT date_trunc('minute', created_at), status, count(*)
FROM executions
WHERE created_at >= $1 AND created_at < $2
GROUP BY 1, 2`

// ExecutionsPerMinute counts the executions created in [since, until) per minute (the
// minute's start, UTC) and status; a minute without executions is absent. The overview's
// chart reads it for the last half hour.
func (d *DB) ExecutionsPerMinute(ctx context.Context, since, until time.Time) (map[time.Time]map[execution.Status]int64, error) {
	rows, err := d.q.Query(ctx, executionsPerMinuteSQL, since, until)
	if err != nil {
		return nil, fmt.Errorf("count executions per minute: %w", err)
	}
	defer rows.Close()
	out := map[time.Time]map[execution.Status]int64{}
	for rows.Next() {
		var (
			minute time.Time
			status string
			n      int64
		)
		if err := rows.Scan(&minute, &status, &n); err != nil {
			return nil, fmt.Errorf("count executions per minute: %w", err)
		}
		minute = minute.UTC()
		if out[minute] == nil {
			out[minute] = map[execution.Status]int64{}
		}
		out[minute][execution.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count executions per minute: %w", err)
	}
	return out, nil
}
