package readmodel

import (
	"context"
	"fmt"

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
