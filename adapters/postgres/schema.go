package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
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

// Migrated reports whether the pool's schema has Attune's tables (the event log), that is
// whether `attune migrate` (or a start of `attune serve`) has run on it.
func Migrated(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('events') IS NOT NULL").Scan(&ok); err != nil {
		return false, fmt.Errorf("look for the event log: %w", err)
	}
	return ok, nil
}

// HoldsEvents reports whether the pool's schema has an event log with anything in it.
func HoldsEvents(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var has bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events)").Scan(&has); err != nil {
		return false, fmt.Errorf("look for events in the schema: %w", err)
	}
	return has, nil
}

// DropStaleSchemas drops the schemas named prefix+<ULID> whose ULID time is older than
// olderThan, and returns their names: the scratch schemas of tests and audits whose process
// was killed before it could drop them (a ULID carries its creation time, so no table of
// schemas is needed). Names whose suffix is not a ULID are left alone. A schema another
// process drops meanwhile is no error.
func DropStaleSchemas(ctx context.Context, pool *pgxpool.Pool, prefix string, olderThan time.Duration, now time.Time) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s* schemas: %w", prefix, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list %s* schemas: %w", prefix, err)
	}
	var dropped []string
	var errs []error
	for _, name := range names {
		id, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(name, prefix)))
		if err != nil || now.Sub(ulid.Time(id.Time())) < olderThan {
			continue
		}
		if err := DropSchema(ctx, pool, name); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped, errors.Join(errs...)
}
