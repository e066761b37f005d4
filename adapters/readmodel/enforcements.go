package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/projections/enforcements"
)

const enforcementColumns = `id, coalesce(rule, ''), coalesce(trigger, ''), coalesce(event_id, ''), coalesce(action, ''),
    coalesce(parameters::text, ''), status, coalesce(execution_id, ''), coalesce(reason, ''),
    created_at, updated_at, version, position_major, position_minor`

const saveEnforcementsSQL = `
INSERT INTO enforcements (id, rule, trigger, event_id, action, parameters, status, execution_id, reason,
    created_at, updated_at, version, position_major, position_minor)
SELECT u.id, NULLIF(u.rule, ''), NULLIF(u.trigger, ''), NULLIF(u.event_id, ''), NULLIF(u.action, ''),
    NULLIF(u.parameters, '')::jsonb, u.status, NULLIF(u.execution_id, ''), NULLIF(u.reason, ''),
    u.created_at, u.updated_at, u.version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::timestamptz[], $11::timestamptz[], $12::int8[], $13::int8[], $14::int8[])
    AS u(id, rule, trigger, event_id, action, parameters, status, execution_id, reason, created_at,
    updated_at, version, position_major, position_minor)
ON CONFLICT (id) DO UPDATE SET
    rule = excluded.rule, trigger = excluded.trigger, event_id = excluded.event_id,
    action = excluded.action, parameters = excluded.parameters, status = excluded.status,
    execution_id = excluded.execution_id, reason = excluded.reason, created_at = excluded.created_at,
    updated_at = excluded.updated_at, version = excluded.version,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanEnforcement(row pgx.Row) (enforcements.Enforcement, error) {
	var (
		x                  enforcements.Enforcement
		params, status     string
		posMajor, posMinor int64
	)
	err := row.Scan(&x.ID, &x.Rule, &x.Trigger, &x.EventID, &x.Action, &params, &status, &x.ExecutionID,
		&x.Reason, &x.CreatedAt, &x.UpdatedAt, &x.Version, &posMajor, &posMinor)
	if err != nil {
		return enforcements.Enforcement{}, err
	}
	x.Status = enforcements.Status(status)
	if params != "" {
		x.Parameters = json.RawMessage(params)
	}
	x.CreatedAt, x.UpdatedAt = x.CreatedAt.UTC(), x.UpdatedAt.UTC()
	x.Position = positionOf(posMajor, posMinor)
	return x, nil
}

// LoadEnforcements implements enforcements.Store.
func (s *txStore) LoadEnforcements(ctx context.Context, ids []string) (map[string]enforcements.Enforcement, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d enforcements", len(ids)),
		`SELECT `+enforcementColumns+` FROM enforcements WHERE id = ANY($1)`, []any{ids},
		scanEnforcement, func(x enforcements.Enforcement) string { return x.ID })
}

// SaveEnforcements implements enforcements.Store.
func (s *txStore) SaveEnforcements(ctx context.Context, xs []enforcements.Enforcement) error {
	if len(xs) == 0 {
		return nil
	}
	type x = enforcements.Enforcement
	_, err := s.tx.Exec(ctx, saveEnforcementsSQL,
		column(xs, func(x x) string { return x.ID }),
		column(xs, func(x x) string { return x.Rule }),
		column(xs, func(x x) string { return x.Trigger }),
		column(xs, func(x x) string { return x.EventID }),
		column(xs, func(x x) string { return x.Action }),
		column(xs, func(x x) string { return string(x.Parameters) }),
		column(xs, func(x x) string { return string(x.Status) }),
		column(xs, func(x x) string { return x.ExecutionID }),
		column(xs, func(x x) string { return x.Reason }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.CreatedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.UpdatedAt) }),
		column(xs, func(x x) int64 { return x.Version }),
		column(xs, func(x x) int64 { return int64(x.Position.Major) }),
		column(xs, func(x x) int64 { return int64(x.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d enforcements: %w", len(xs), err)
	}
	return nil
}

// GetEnforcement returns one enforcement, or enforcements.ErrNotFound.
func (d *DB) GetEnforcement(ctx context.Context, id string) (enforcements.Enforcement, error) {
	x, err := scanEnforcement(d.q.QueryRow(ctx, `SELECT `+enforcementColumns+` FROM enforcements WHERE id = $1`, oneShot, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return enforcements.Enforcement{}, fmt.Errorf("get enforcement %s: %w", id, enforcements.ErrNotFound)
	}
	if err != nil {
		return enforcements.Enforcement{}, fmt.Errorf("get enforcement %s: %w", id, err)
	}
	return x, nil
}

// ListEnforcements returns one page of enforcements, newest first, matching f.
func (d *DB) ListEnforcements(ctx context.Context, f enforcements.Filter) (enforcements.Page, error) {
	if err := f.Validate(); err != nil {
		return enforcements.Page{}, fmt.Errorf("list enforcements: %w", err)
	}
	w := &where{}
	if f.Rule != "" {
		w.add(`rule = $%d`, f.Rule)
	}
	if f.Event != "" {
		w.add(`event_id = $%d`, f.Event)
	}
	if len(f.Status) > 0 {
		w.add(`status = ANY($%d)`, column(f.Status, func(s enforcements.Status) string { return string(s) }))
	}
	if key, ok, _ := enforcements.ParseCursor(f.Cursor); ok {
		w.add(`(created_at, id) < ($%d, $%d)`, key.At, key.ID)
	}
	items, next, err := listPage(ctx, d.q, "enforcements", enforcementColumns, "enforcements", w,
		"created_at DESC, id DESC", f.PageSize(), scanEnforcement, enforcements.Cursor)
	return enforcements.Page{Items: items, Next: next}, err
}
