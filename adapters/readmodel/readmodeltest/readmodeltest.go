// Package readmodeltest dumps read-model tables for tests that compare two builds of the
// same projection row by row (live against rebuilt, crashed against from scratch).
package readmodeltest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// keys orders each table by its primary key, so two dumps line up row by row.
var keys = map[string]string{
	"executions":      "id",
	"streams":         "stream_id",
	"checkpoints":     "name",
	"packs":           "ref",
	"pack_components": "kind, ref",
	"trigger_events":  "id",
	"enforcements":    "id",
	"workers":         "worker_id",
	"causality":       "event_id",
	"workflows":       "id",
	"workflow_tasks":  "child_execution_id",
	"policies":        "ref",
	"policy_members":  "policy, execution_id, hold",
	"inquiries":       "id",
	"kv_keys":         "stream_id",
}

// Dump returns every row of table (in the pool's schema) as Postgres renders the whole
// record, one string per row, ordered by key: every column takes part in a comparison.
func Dump(t testing.TB, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	key, ok := keys[table]
	if !ok {
		t.Fatalf("readmodeltest: no key known for table %q", table)
	}
	var order []string
	for _, k := range strings.Split(key, ", ") {
		order = append(order, pgx.Identifier{k}.Sanitize())
	}
	sql := "SELECT r::text FROM " + pgx.Identifier{table}.Sanitize() + " r ORDER BY " + strings.Join(order, ", ")
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	return out
}

// Checkpoints returns the position of each checkpoint as "name major-minor", by name.
func Checkpoints(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT name || ' ' || position_major || '-' || position_minor FROM checkpoints ORDER BY name")
	if err != nil {
		t.Fatalf("dump checkpoints: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("dump checkpoints: %v", err)
	}
	return out
}
