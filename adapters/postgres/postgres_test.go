package postgres_test

import (
	"context"
	"strings"
	"testing"

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
