package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/events"
)

const triggerEventColumns = `id, trigger, source, coalesce(rule, ''), coalesce(sensor, ''), coalesce(payload::text, ''),
    occurred_at, coalesce(actor, ''), coalesce(trace_tag, ''), created_at, position_major, position_minor`

const saveTriggerEventsSQL = `
INSERT INTO trigger_events (id, trigger, source, rule, sensor, payload, occurred_at, actor, trace_tag,
    created_at, position_major, position_minor)
SELECT u.id, u.trigger, u.source, NULLIF(u.rule, ''), NULLIF(u.sensor, ''), NULLIF(u.payload, '')::jsonb,
    u.occurred_at, NULLIF(u.actor, ''), NULLIF(u.trace_tag, ''), u.created_at, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
    $8::text[], $9::text[], $10::timestamptz[], $11::int8[], $12::int8[])
    AS u(id, trigger, source, rule, sensor, payload, occurred_at, actor, trace_tag, created_at,
    position_major, position_minor)
ON CONFLICT (id) DO UPDATE SET
    trigger = excluded.trigger, source = excluded.source, rule = excluded.rule, sensor = excluded.sensor,
    payload = excluded.payload, occurred_at = excluded.occurred_at, actor = excluded.actor,
    trace_tag = excluded.trace_tag, created_at = excluded.created_at,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanTriggerEvent(row pgx.Row) (events.Event, error) {
	var (
		e                  events.Event
		source, payload    string
		occurred           pgtype.Timestamptz
		posMajor, posMinor int64
	)
	err := row.Scan(&e.ID, &e.Trigger, &source, &e.Rule, &e.Sensor, &payload, &occurred, &e.Actor, &e.TraceTag,
		&e.CreatedAt, &posMajor, &posMinor)
	if err != nil {
		return events.Event{}, err
	}
	e.Source = trigger.Source(source)
	if payload != "" {
		e.Payload = json.RawMessage(payload)
	}
	e.OccurredAt, e.CreatedAt = occurred.Time.UTC(), e.CreatedAt.UTC()
	e.Position = positionOf(posMajor, posMinor)
	return e, nil
}

// SaveTriggerEvents implements events.Store.
func (s *txStore) SaveTriggerEvents(ctx context.Context, es []events.Event) error {
	if len(es) == 0 {
		return nil
	}
	type e = events.Event
	_, err := s.tx.Exec(ctx, saveTriggerEventsSQL,
		column(es, func(e e) string { return e.ID }),
		column(es, func(e e) string { return e.Trigger }),
		column(es, func(e e) string { return string(e.Source) }),
		column(es, func(e e) string { return e.Rule }),
		column(es, func(e e) string { return e.Sensor }),
		column(es, func(e e) string { return string(e.Payload) }),
		column(es, func(e e) pgtype.Timestamptz { return timestamp(e.OccurredAt) }),
		column(es, func(e e) string { return e.Actor }),
		column(es, func(e e) string { return e.TraceTag }),
		column(es, func(e e) pgtype.Timestamptz { return timestamp(e.CreatedAt) }),
		column(es, func(e e) int64 { return int64(e.Position.Major) }),
		column(es, func(e e) int64 { return int64(e.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d trigger events: %w", len(es), err)
	}
	return nil
}

// GetTriggerEvent returns one trigger event, or events.ErrNotFound.
func (d *DB) GetTriggerEvent(ctx context.Context, id string) (events.Event, error) {
	e, err := scanTriggerEvent(d.q.QueryRow(ctx, `SELECT `+triggerEventColumns+` FROM trigger_events WHERE id = $1`, oneShot, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Event{}, fmt.Errorf("get trigger event %s: %w", id, events.ErrNotFound)
	}
	if err != nil {
		return events.Event{}, fmt.Errorf("get trigger event %s: %w", id, err)
	}
	return e, nil
}

// ListTriggerEvents returns one page of trigger events, newest first, matching f.
func (d *DB) ListTriggerEvents(ctx context.Context, f events.Filter) (events.Page, error) {
	if err := f.Validate(); err != nil {
		return events.Page{}, fmt.Errorf("list trigger events: %w", err)
	}
	w := &where{}
	if f.Trigger != "" {
		w.add(`trigger = $%d`, f.Trigger)
	}
	if f.Source != "" {
		w.add(`source = $%d`, string(f.Source))
	}
	if !f.Since.IsZero() {
		w.add(`created_at >= $%d`, f.Since)
	}
	if !f.Until.IsZero() {
		w.add(`created_at < $%d`, f.Until)
	}
	if key, ok, _ := events.ParseCursor(f.Cursor); ok {
		w.add(`(created_at, id) < ($%d, $%d)`, key.At, key.ID)
	}
	items, next, err := listPage(ctx, d.q, "trigger events", triggerEventColumns, "trigger_events", w,
		"created_at DESC, id DESC", f.PageSize(), scanTriggerEvent, events.Cursor)
	return events.Page{Items: items, Next: next}, err
}
