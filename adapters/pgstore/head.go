package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
)

// headSQL finds the last event a reader can see, under the same visibility rule as ReadAll,
// by walking the cursor index backwards: a handful of rows however long the log.
const headSQL = `SELECT transaction_id, global_position FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, global_position DESC
LIMIT 1`

// Head returns the position of the last event ReadAll can return now, or eventstore.Start
// when there is none. Subscribing after it delivers exactly what becomes visible from now on:
// an event that commits later has a greater position, however early its transaction began.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var (
		xid    uint64
		global int64
	)
	err := s.pool.QueryRow(ctx, headSQL).Scan(&xid, &global)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return eventstore.Start, fmt.Errorf("read head of the log: %w", describe(err))
	}
	return eventstore.Position{Major: xid, Minor: uint64(global)}, nil
}
