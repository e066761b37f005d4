package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/projections/inquiries"
)

const inquiryColumns = `id, execution_id, coalesce(parent_execution_id, ''), coalesce(task, ''), coalesce(route, ''),
    schema::text, schema_kind, roles, tokens, ttl, status, coalesce(responder, ''), coalesce(response::text, ''),
    coalesce(reason, ''), created_at, expires_at, responded_at, updated_at, version, position_major, position_minor`

const saveInquiriesSQL = `
INSERT INTO inquiries (id, execution_id, parent_execution_id, task, route, schema, schema_kind, roles, tokens,
    ttl, status, responder, response, reason, created_at, expires_at, responded_at, updated_at, version,
    position_major, position_minor)
SELECT u.id, u.execution_id, NULLIF(u.parent, ''), NULLIF(u.task, ''), NULLIF(u.route, ''), u.schema::jsonb,
    u.schema_kind, coalesce((SELECT array_agg(r) FROM jsonb_array_elements_text(u.roles::jsonb) r), '{}'),
    coalesce((SELECT array_agg(t) FROM jsonb_array_elements_text(u.tokens::jsonb) t), '{}'),
    u.ttl, u.status, NULLIF(u.responder, ''), NULLIF(u.response, '')::jsonb, NULLIF(u.reason, ''),
    u.created_at, u.expires_at, u.responded_at, u.updated_at, u.version, u.position_major, u.position_minor
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::int4[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[],
    $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::int8[], $20::int8[], $21::int8[])
    AS u(id, execution_id, parent, task, route, schema, schema_kind, roles, tokens, ttl, status, responder,
    response, reason, created_at, expires_at, responded_at, updated_at, version, position_major, position_minor)
ON CONFLICT (id) DO UPDATE SET
    execution_id = excluded.execution_id, parent_execution_id = excluded.parent_execution_id,
    task = excluded.task, route = excluded.route, schema = excluded.schema, schema_kind = excluded.schema_kind,
    roles = excluded.roles, tokens = excluded.tokens, ttl = excluded.ttl, status = excluded.status,
    responder = excluded.responder, response = excluded.response, reason = excluded.reason,
    created_at = excluded.created_at, expires_at = excluded.expires_at, responded_at = excluded.responded_at,
    updated_at = excluded.updated_at, version = excluded.version,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanInquiry(row pgx.Row) (inquiries.Inquiry, error) {
	var (
		x                          inquiries.Inquiry
		schema, kind, status, resp string
		responded                  pgtype.Timestamptz
		posMajor, posMinor         int64
	)
	err := row.Scan(&x.ID, &x.ExecutionID, &x.ParentExecutionID, &x.Task, &x.Route, &schema, &kind, &x.Roles,
		&x.Tokens, &x.TTLSeconds, &status, &x.Responder, &resp, &x.Reason, &x.CreatedAt, &x.ExpiresAt,
		&responded, &x.UpdatedAt, &x.Version, &posMajor, &posMinor)
	if err != nil {
		return inquiries.Inquiry{}, err
	}
	x.Schema, x.SchemaKind, x.Status = json.RawMessage(schema), inquiry.SchemaKind(kind), inquiry.Status(status)
	if resp != "" {
		x.Response = json.RawMessage(resp)
	}
	if len(x.Roles) == 0 {
		x.Roles = nil
	}
	if len(x.Tokens) == 0 {
		x.Tokens = nil
	}
	if responded.Valid {
		x.RespondedAt = responded.Time.UTC()
	}
	x.CreatedAt, x.ExpiresAt, x.UpdatedAt = x.CreatedAt.UTC(), x.ExpiresAt.UTC(), x.UpdatedAt.UTC()
	x.Position = positionOf(posMajor, posMinor)
	return x, nil
}

// LoadInquiries implements inquiries.Store.
func (s *txStore) LoadInquiries(ctx context.Context, ids []string) (map[string]inquiries.Inquiry, error) {
	return loadRows(ctx, s.tx, fmt.Sprintf("%d inquiries", len(ids)),
		`SELECT `+inquiryColumns+` FROM inquiries WHERE id = ANY($1)`, []any{ids},
		scanInquiry, func(x inquiries.Inquiry) string { return x.ID })
}

func jsonList(xs []string) string {
	if len(xs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(xs) // strings always encode
	return string(b)
}

// SaveInquiries implements inquiries.Store.
func (s *txStore) SaveInquiries(ctx context.Context, xs []inquiries.Inquiry) error {
	if len(xs) == 0 {
		return nil
	}
	type x = inquiries.Inquiry
	_, err := s.tx.Exec(ctx, saveInquiriesSQL,
		column(xs, func(x x) string { return x.ID }),
		column(xs, func(x x) string { return x.ExecutionID }),
		column(xs, func(x x) string { return x.ParentExecutionID }),
		column(xs, func(x x) string { return x.Task }),
		column(xs, func(x x) string { return x.Route }),
		column(xs, func(x x) string { return string(x.Schema) }),
		column(xs, func(x x) string { return string(x.SchemaKind) }),
		column(xs, func(x x) string { return jsonList(x.Roles) }),
		column(xs, func(x x) string { return jsonList(x.Tokens) }),
		column(xs, func(x x) int32 { return int32(x.TTLSeconds) }),
		column(xs, func(x x) string { return string(x.Status) }),
		column(xs, func(x x) string { return x.Responder }),
		column(xs, func(x x) string { return string(x.Response) }),
		column(xs, func(x x) string { return x.Reason }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.CreatedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.ExpiresAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.RespondedAt) }),
		column(xs, func(x x) pgtype.Timestamptz { return timestamp(x.UpdatedAt) }),
		column(xs, func(x x) int64 { return x.Version }),
		column(xs, func(x x) int64 { return int64(x.Position.Major) }),
		column(xs, func(x x) int64 { return int64(x.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d inquiries: %w", len(xs), err)
	}
	return nil
}

// GetInquiry returns one inquiry, or inquiries.ErrNotFound.
func (d *DB) GetInquiry(ctx context.Context, id string) (inquiries.Inquiry, error) {
	x, err := scanInquiry(d.q.QueryRow(ctx, `SELECT `+inquiryColumns+` FROM inquiries WHERE id = $1`, oneShot, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return inquiries.Inquiry{}, fmt.Errorf("get inquiry %s: %w", id, inquiries.ErrNotFound)
	}
	if err != nil {
		return inquiries.Inquiry{}, fmt.Errorf("get inquiry %s: %w", id, err)
	}
	return x, nil
}

// ListInquiries returns one page of inquiries, newest first, matching f.
func (d *DB) ListInquiries(ctx context.Context, f inquiries.Filter) (inquiries.Page, error) {
	if err := f.Validate(); err != nil {
		return inquiries.Page{}, fmt.Errorf("list inquiries: %w", err)
	}
	w := &where{}
	if len(f.Status) > 0 {
		w.add(`status = ANY($%d)`, column(f.Status, func(s inquiry.Status) string { return string(s) }))
	}
	if f.Parent != "" {
		w.add(`parent_execution_id = $%d`, f.Parent)
	}
	if key, ok, _ := inquiries.ParseCursor(f.Cursor); ok {
		w.add(`(created_at, id) < ($%d, $%d)`, key.At, key.ID)
	}
	items, next, err := listPage(ctx, d.q, "inquiries", inquiryColumns, "inquiries", w,
		"created_at DESC, id DESC", f.PageSize(), scanInquiry, inquiries.Cursor)
	return inquiries.Page{Items: items, Next: next}, err
}

// DueInquiries lists (at most limit) inquiries whose two streams the reaper should settle:
// pending past their deadline, pending while their execution has ended (a cancel whose
// InquiryCancelled is missing), or closed while their execution still waits (an answer or a
// timeout whose execution change is missing). It reads the executions read model beside this
// one; a row either shows late costs a later pass, never a wrong decision (the reaper decides
// again on the log).
func (d *DB) DueInquiries(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := d.q.Query(ctx, `
SELECT i.id FROM inquiries i WHERE i.status = 'pending' AND i.expires_at <= $1
UNION
SELECT i.id FROM inquiries i JOIN executions x ON x.id = i.execution_id
WHERE (i.status = 'pending' AND x.status = ANY($2)) OR (i.status <> 'pending' AND x.status = $3)
LIMIT $4`, oneShot, now, terminalStatuses(), string(execution.Pending), limit)
	if err != nil {
		return nil, fmt.Errorf("list due inquiries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list due inquiries: %w", err)
	}
	return ids, nil
}

func terminalStatuses() []string {
	var out []string
	for _, s := range execution.Statuses {
		if s.Terminal() {
			out = append(out, string(s))
		}
	}
	return out
}
