package readmodel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections/executions"
)

// requestedBeforeSQL lists an action's executions still requested whose id sorts before $3,
// in id (request) order, with the executions projection's checkpoint: one round trip. The
// partial index executions_requested (00018) holds only requested rows, so the look-up
// costs the same however large the table (adapters/readmodel/plans_test.go).
const requestedBeforeSQL = `SELECT cp.position_major, cp.position_minor, x.id, x.parameters
FROM (SELECT) AS one
LEFT JOIN checkpoints AS cp ON cp.name = $1
LEFT JOIN LATERAL (
    SELECT id, coalesce(parameters::text, '') AS parameters FROM executions
    WHERE status = 'requested' AND action = $2 AND id < $3
    ORDER BY id LIMIT $4) AS x ON true`

// RequestedBefore lists, in request order, up to limit executions of action that the read
// model shows requested and that were requested before the execution id, with the position
// of the log the executions projection has applied up to (what the list is as of): what
// admission needs to keep request order (handlers/admission).
func (d *DB) RequestedBefore(ctx context.Context, action, id string, limit int) ([]executions.Requested, eventstore.Position, error) {
	rows, err := d.q.Query(ctx, requestedBeforeSQL, oneShot, executions.Name, action, id, limit)
	if err != nil {
		return nil, eventstore.Start, fmt.Errorf("list executions of %s requested before %s: %w", action, id, err)
	}
	defer rows.Close()
	var (
		out     []executions.Requested
		applied eventstore.Position
	)
	for rows.Next() {
		var (
			major, minor pgtype.Int8
			xid, params  pgtype.Text
		)
		if err := rows.Scan(&major, &minor, &xid, &params); err != nil {
			return nil, eventstore.Start, fmt.Errorf("list executions of %s requested before %s: %w", action, id, err)
		}
		if major.Valid {
			applied = eventstore.Position{Major: uint64(major.Int64), Minor: uint64(minor.Int64)}
		}
		if xid.Valid {
			r := executions.Requested{ID: xid.String}
			if params.String != "" {
				r.Parameters = json.RawMessage(params.String)
			}
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, eventstore.Start, fmt.Errorf("list executions of %s requested before %s: %w", action, id, err)
	}
	return out, applied, nil
}
