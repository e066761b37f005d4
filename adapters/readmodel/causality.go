package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
)

const causalityColumns = `event_id, stream_id, stream_version, type, coalesce(correlation_id, ''),
    coalesce(causation_id, ''), coalesce(actor, ''), recorded_at, position_major, position_minor`

const saveCausalitySQL = `
INSERT INTO causality (event_id, stream_id, stream_version, type, correlation_id, causation_id, actor,
    recorded_at, position_major, position_minor)
SELECT u.event_id, u.stream_id, u.stream_version, u.type, NULLIF(u.correlation_id, ''),
    NULLIF(u.causation_id, ''), NULLIF(u.actor, ''), u.recorded_at, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::timestamptz[], $9::int8[], $10::int8[])
    AS u(event_id, stream_id, stream_version, type, correlation_id, causation_id, actor, recorded_at,
    position_major, position_minor)
ON CONFLICT (event_id) DO UPDATE SET
    stream_id = excluded.stream_id, stream_version = excluded.stream_version, type = excluded.type,
    correlation_id = excluded.correlation_id, causation_id = excluded.causation_id,
    actor = excluded.actor, recorded_at = excluded.recorded_at,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanEntry(row pgx.Row) (causality.Entry, error) {
	var (
		e                  causality.Entry
		posMajor, posMinor int64
	)
	err := row.Scan(&e.EventID, &e.StreamID, &e.StreamVersion, &e.Type, &e.CorrelationID, &e.CausationID,
		&e.Actor, &e.RecordedAt, &posMajor, &posMinor)
	e.RecordedAt = e.RecordedAt.UTC()
	e.Position = positionOf(posMajor, posMinor)
	return e, err
}

// SaveCausality implements causality.Store.
func (s *txStore) SaveCausality(ctx context.Context, es []causality.Entry) error {
	if len(es) == 0 {
		return nil
	}
	type e = causality.Entry
	_, err := s.tx.Exec(ctx, saveCausalitySQL,
		column(es, func(e e) string { return e.EventID }),
		column(es, func(e e) string { return e.StreamID }),
		column(es, func(e e) int64 { return e.StreamVersion }),
		column(es, func(e e) string { return e.Type }),
		column(es, func(e e) string { return e.CorrelationID }),
		column(es, func(e e) string { return e.CausationID }),
		column(es, func(e e) string { return e.Actor }),
		column(es, func(e e) pgtype.Timestamptz { return timestamp(e.RecordedAt) }),
		column(es, func(e e) int64 { return int64(e.Position.Major) }),
		column(es, func(e e) int64 { return int64(e.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d causality entries: %w", len(es), err)
	}
	return nil
}

// traceExecutionsSQL finds the executions of a trigger event (through its enforcements, or
// naming the event) and, level by level, the workflow children under them.
const traceExecutionsSQL = `
WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM executions WHERE trigger_event = $1 OR enforcement = ANY($2)
    UNION
    SELECT x.id, t.depth + 1 FROM executions x JOIN tree t ON x.parent = t.id WHERE t.depth < 64
)
SELECT %s FROM executions WHERE id IN (SELECT id FROM tree)`

// Trace returns the causal tree of a trigger event (causality.Build over what the read models
// hold), or causality.ErrNotFound when the trigger event is unknown. The read models advance
// independently, so a trace taken while the pipeline runs may show an enforcement before its
// execution: each part is as current as its projection.
func (d *DB) Trace(ctx context.Context, eventID string) (causality.Trace, error) {
	ev, err := d.GetTriggerEvent(ctx, eventID)
	if errors.Is(err, events.ErrNotFound) {
		return causality.Trace{}, fmt.Errorf("trace %s: %w", eventID, causality.ErrNotFound)
	}
	if err != nil {
		return causality.Trace{}, fmt.Errorf("trace %s: %w", eventID, err)
	}
	parts := causality.Parts{Event: ev}
	enfs, err := collect(ctx, d.q, `SELECT `+enforcementColumns+` FROM enforcements WHERE event_id = $1 ORDER BY created_at, id`,
		[]any{eventID}, scanEnforcement)
	if err != nil {
		return causality.Trace{}, fmt.Errorf("trace %s: enforcements: %w", eventID, err)
	}
	parts.Enforcements = enfs
	enfIDs := column(enfs, func(x enforcements.Enforcement) string { return x.ID })
	parts.Executions, err = collect(ctx, d.q, fmt.Sprintf(traceExecutionsSQL, listColumns), []any{eventID, enfIDs}, scanExecution)
	if err != nil {
		return causality.Trace{}, fmt.Errorf("trace %s: executions: %w", eventID, err)
	}
	streams := []string{trigger.StreamID(eventID)}
	for _, id := range enfIDs {
		streams = append(streams, enforcement.StreamID(id))
	}
	for _, x := range parts.Executions {
		streams = append(streams, execution.StreamID(x.ID))
	}
	parts.Log, err = collect(ctx, d.q, `SELECT `+causalityColumns+` FROM causality
WHERE correlation_id = $1 OR stream_id = ANY($2) ORDER BY position_major, position_minor`, []any{eventID, streams}, scanEntry)
	if err != nil {
		return causality.Trace{}, fmt.Errorf("trace %s: log: %w", eventID, err)
	}
	return causality.Build(parts), nil
}

// collect runs a read and scans every row.
func collect[T any](ctx context.Context, q querier, sql string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, sql, append([]any{oneShot}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
