package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DropSchema drops schema and everything in it (scratch schemas of audits). It refuses the
// empty name rather than guess which schema is meant.
func DropSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		return fmt.Errorf("drop schema: no schema named")
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}

// CurrentSchema returns the schema the pool's search_path resolves to.
func CurrentSchema(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var s string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&s); err != nil {
		return "", fmt.Errorf("read current schema: %w", err)
	}
	return s, nil
}

// HoldsEvents reports whether the pool's schema has an event log with anything in it.
func HoldsEvents(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var has bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events)").Scan(&has); err != nil {
		return false, fmt.Errorf("look for events in the schema: %w", err)
	}
	return has, nil
}
