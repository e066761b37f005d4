package postgres_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	applied, err := postgres.Migrate(context.Background(), s.Pool)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", applied)
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatalf("events table after migrate: %v", err)
	}
}

func TestConnectFailsFastWithClearError(t *testing.T) {
	t.Parallel()
	_, err := postgres.Connect(context.Background(), "postgres://nobody:secret@127.0.0.1:1/nothing?connect_timeout=2", "")
	if err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	if got := err.Error(); !strings.Contains(got, "127.0.0.1:1") || strings.Contains(got, "secret") {
		t.Fatalf("error %q should name the server and hide the password", got)
	}
}

func TestDropStaleSchemasDropsOnlyOldOnesOfThePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t).Pool
	now := time.Now()
	prefix := "t_stale_" + strings.ToLower(ulid.Make().String()) + "_" // this test's own, so parallel tests never meet
	old := prefix + strings.ToLower(ulid.MustNew(ulid.Timestamp(now.Add(-3*time.Hour)), rand.Reader).String())
	young := prefix + strings.ToLower(ulid.MustNew(ulid.Timestamp(now.Add(-time.Minute)), rand.Reader).String())
	other := prefix + "not-a-ulid"
	for _, s := range []string{old, young, other} {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = postgres.DropSchema(context.Background(), pool, s) })
	}
	dropped, err := postgres.DropStaleSchemas(ctx, pool, prefix, 2*time.Hour, now)
	if err != nil || len(dropped) != 1 || dropped[0] != old {
		t.Fatalf("dropped %v, %v; want only %s", dropped, err, old)
	}
	var left []string
	rows, _ := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, prefix)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(left) != 2 {
		t.Errorf("left %v, %v; want the young one and the one without a ULID", left, err)
	}
}
