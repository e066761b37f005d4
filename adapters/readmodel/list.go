package readmodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
)

// where builds the WHERE clause of a list query, numbering the parameters as it goes.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each %d in format becomes the number of one of vs.
func (w *where) add(format string, vs ...any) {
	ns := make([]any, len(vs))
	for i, v := range vs {
		w.args = append(w.args, v)
		ns[i] = len(w.args)
	}
	w.conds = append(w.conds, fmt.Sprintf(format, ns...))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(w.conds, ` AND `)
}

// listPage runs `SELECT columns FROM from WHERE … ORDER BY order LIMIT limit+1` and returns at
// most limit rows, with the cursor of the next page when the extra row says there is one.
func listPage[T any](ctx context.Context, q querier, what, columns, from string, w *where, order string, limit int,
	scan func(pgx.Row) (T, error), cursor func(T) string) ([]T, string, error) {
	args := append([]any{oneShot}, w.args...)
	args = append(args, limit+1) // one more tells whether a next page exists
	sql := `SELECT ` + columns + ` FROM ` + from + w.String() + ` ORDER BY ` + order + fmt.Sprintf(` LIMIT $%d`, len(args)-1)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list %s: %w", what, err)
		}
		items = append(items, x)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", what, err)
	}
	if len(items) > limit {
		items = items[:limit]
		return items, cursor(items[limit-1]), nil
	}
	return items, "", nil
}

// loadRows runs a query inside a projection's transaction and collects its rows by key.
func loadRows[K comparable, T any](ctx context.Context, tx pgx.Tx, what, sql string, args []any,
	scan func(pgx.Row) (T, error), key func(T) K) (map[K]T, error) {
	rows, err := tx.Query(ctx, sql, append([]any{oneShot}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	defer rows.Close()
	out := map[K]T{}
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", what, err)
		}
		out[key(x)] = x
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return out, nil
}

// positionOf reads a log position stored as two bigints.
func positionOf(major, minor int64) eventstore.Position {
	return eventstore.Position{Major: uint64(major), Minor: uint64(minor)}
}
