// Package pgtest gives every test its own migrated PostgreSQL schema, dropped when the test
// ends, so tests run in parallel on one server and never see each other.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/postgres"
)

// URL is the server tests use: ATTUNE_TEST_DATABASE_URL, or the local default.
func URL() string {
	if u := os.Getenv("ATTUNE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return postgres.DefaultURL
}

// WithPoolSize returns url with pool_max_conns set to n (servers started by tests use it too).
func WithPoolSize(url string, n int) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%spool_max_conns=%d", url, sep, n)
}

// Schema is one test's isolated schema.
type Schema struct {
	Name string
	URL  string // the server URL; pass Name as the schema to postgres.Connect
	Pool *pgxpool.Pool
}

// New creates a fresh schema, migrates it and returns a pool whose search_path is that schema.
// It fails the test (no skip) when PostgreSQL is unreachable: these tests must run.
func New(t testing.TB) *Schema {
	t.Helper()
	s := NewEmpty(t)
	if _, err := postgres.Migrate(context.Background(), s.Pool); err != nil {
		t.Fatalf("migrate schema %s: %v", s.Name, err)
	}
	return s
}

// NewEmpty creates a fresh schema without migrating it.
func NewEmpty(t testing.TB) *Schema {
	t.Helper()
	ctx := context.Background()
	name := "t_" + strings.ToLower(ulid.Make().String())
	admin, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Fatalf("pgtest: connect to %s (start it with scripts/services.sh): %v", URL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	// A small pool per test: dozens of tests run at once against one server and its
	// max_connections (100 by default).
	pool, err := postgres.Connect(ctx, WithPoolSize(URL(), 4), name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		conn, err := pgx.Connect(context.Background(), URL())
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), fmt.Sprintf("DROP SCHEMA %s CASCADE", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return &Schema{Name: name, URL: URL(), Pool: pool}
}
