// Package pgtest gives every test its own migrated PostgreSQL schema, dropped when the test
// ends, so tests run in parallel on one server and never see each other.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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

// ServerPoolSize is the pool of a server a test starts (`attune serve` in cmd/attune's
// end-to-end tests): with its lock and LISTEN sessions a server then holds 6 connections, so
// the suite fits PostgreSQL's default max_connections with a demo server beside it.
const ServerPoolSize = 4

// AppName names tests' connections in pg_stat_activity, to tell them from servers'.
const AppName = "attune-test"

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

// staleAfter is when a test's schema is surely abandoned: no test runs that long (go test's
// own default timeout is 10 minutes, the slowest package takes a few), so a t_* schema older
// than this belongs to a test process that was killed before its Cleanup could drop it.
const staleAfter = 2 * time.Hour

// sweep runs once per test process (a package-level Once: tests share the server, and one
// sweep per process is enough), before its first schema.
var sweep sync.Once

// sweepStale drops the schemas that killed test processes left behind: their own (t_*) and
// the scratch schemas of audits and rebuilds they ran (attune_audit_*, attune_rebuild_*). A failure is only logged: another
// process sweeping at the same moment is no reason to fail a test.
func sweepStale(t testing.TB) {
	ctx := context.Background()
	pool, err := postgres.ConnectWith(ctx, WithPoolSize(URL(), 1), "", postgres.PoolOptions{AppName: AppName})
	if err != nil {
		t.Logf("pgtest: sweep stale schemas: %v", err)
		return
	}
	defer pool.Close()
	for _, prefix := range []string{"t_", "attune_audit_", "attune_rebuild_"} {
		dropped, err := postgres.DropStaleSchemas(ctx, pool, prefix, staleAfter, time.Now())
		if err != nil {
			t.Logf("pgtest: sweep stale schemas: %v", err)
		}
		if len(dropped) > 0 {
			t.Logf("pgtest: dropped %d schemas older than %s left by killed test processes", len(dropped), staleAfter)
		}
	}
}

// NewEmpty creates a fresh schema without migrating it.
func NewEmpty(t testing.TB) *Schema {
	t.Helper()
	sweep.Do(func() { sweepStale(t) })
	ctx := context.Background()
	name := "t_" + strings.ToLower(ulid.Make().String())
	admin, err := connect(ctx)
	if err != nil {
		t.Fatalf("pgtest: connect to %s (start it with scripts/services.sh): %v", URL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	// A small pool per test: dozens of tests run at once against one server and its
	// max_connections (100 by default).
	pool, err := postgres.ConnectWith(ctx, WithPoolSize(URL(), 4), name, postgres.PoolOptions{AppName: AppName})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		conn, err := connect(context.Background())
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return &Schema{Name: name, URL: URL(), Pool: pool}
}

// connect opens one connection for creating or dropping a schema, named like the tests' pools.
func connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(URL())
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = AppName
	return pgx.ConnectConfig(ctx, cfg)
}
