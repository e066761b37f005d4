package readmodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections/streams"
)

const streamColumns = `stream_id, category, version, event_count, first_type, last_type,
    created_at, updated_at, position_major, position_minor`

const saveStreamsSQL = `
INSERT INTO streams (` + streamColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::int8[], $10::int8[])
ON CONFLICT (stream_id) DO UPDATE SET
    category = excluded.category, version = excluded.version, event_count = excluded.event_count,
    first_type = excluded.first_type, last_type = excluded.last_type,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    position_major = excluded.position_major, position_minor = excluded.position_minor`

func scanStream(row pgx.Row) (streams.Stream, error) {
	var (
		s                  streams.Stream
		posMajor, posMinor int64
	)
	err := row.Scan(&s.ID, &s.Category, &s.Version, &s.EventCount, &s.FirstType, &s.LastType,
		&s.CreatedAt, &s.UpdatedAt, &posMajor, &posMinor)
	s.Position = eventstore.Position{Major: uint64(posMajor), Minor: uint64(posMinor)}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

// LoadStreams implements streams.Store.
func (s *txStore) LoadStreams(ctx context.Context, ids []string) (map[string]streams.Stream, error) {
	rows, err := s.tx.Query(ctx, `SELECT `+streamColumns+` FROM streams WHERE stream_id = ANY($1)`, oneShot, ids)
	if err != nil {
		return nil, fmt.Errorf("load %d streams: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[string]streams.Stream, len(ids))
	for rows.Next() {
		st, err := scanStream(rows)
		if err != nil {
			return nil, fmt.Errorf("load streams: %w", err)
		}
		out[st.ID] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %d streams: %w", len(ids), err)
	}
	return out, nil
}

// SaveStreams implements streams.Store.
func (s *txStore) SaveStreams(ctx context.Context, sts []streams.Stream) error {
	if len(sts) == 0 {
		return nil
	}
	type st = streams.Stream
	_, err := s.tx.Exec(ctx, saveStreamsSQL,
		column(sts, func(s st) string { return s.ID }),
		column(sts, func(s st) string { return s.Category }),
		column(sts, func(s st) int64 { return s.Version }),
		column(sts, func(s st) int64 { return s.EventCount }),
		column(sts, func(s st) string { return s.FirstType }),
		column(sts, func(s st) string { return s.LastType }),
		column(sts, func(s st) pgtype.Timestamptz { return timestamp(s.CreatedAt) }),
		column(sts, func(s st) pgtype.Timestamptz { return timestamp(s.UpdatedAt) }),
		column(sts, func(s st) int64 { return int64(s.Position.Major) }),
		column(sts, func(s st) int64 { return int64(s.Position.Minor) }),
	)
	if err != nil {
		return fmt.Errorf("save %d streams: %w", len(sts), err)
	}
	return nil
}

// ListStreams returns one page of streams in id order, optionally of one category.
func (d *DB) ListStreams(ctx context.Context, f streams.Filter) (streams.Page, error) {
	if err := f.Validate(); err != nil {
		return streams.Page{}, fmt.Errorf("list streams: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if f.Category != "" {
		args = append(args, f.Category)
		where = append(where, fmt.Sprintf(`category = $%d`, len(args)))
	}
	if after, ok, _ := streams.ParseCursor(f.Cursor); ok {
		args = append(args, after)
		where = append(where, fmt.Sprintf(`stream_id > $%d`, len(args)))
	}
	limit := f.PageSize()
	args = append(args, limit+1)
	sql := `SELECT ` + streamColumns + ` FROM streams`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sql += fmt.Sprintf(` ORDER BY stream_id LIMIT $%d`, len(args))
	rows, err := d.q.Query(ctx, sql, append([]any{oneShot}, args...)...)
	if err != nil {
		return streams.Page{}, fmt.Errorf("list streams: %w", err)
	}
	defer rows.Close()
	var page streams.Page
	for rows.Next() {
		st, err := scanStream(rows)
		if err != nil {
			return streams.Page{}, fmt.Errorf("list streams: %w", err)
		}
		page.Items = append(page.Items, st)
	}
	if err := rows.Err(); err != nil {
		return streams.Page{}, fmt.Errorf("list streams: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = streams.Cursor(page.Items[limit-1])
	}
	return page, nil
}
