package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func TestIsTransientTellsAnOutageFromABug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"serialization failure, wrapped", fmt.Errorf("append: %w", &pgconn.PgError{Code: "40001"}), true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a plain error", errors.New("bad payload"), false},
		{"nil", nil, false},
	} {
		if got := postgres.IsTransient(tc.err); got != tc.want {
			t.Errorf("%s: IsTransient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestIsTransientForARealRefusedConnection(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t)
	pool, err := postgres.Connect(context.Background(), c.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c.Kill()
	_, err = pool.Exec(context.Background(), "SELECT 1")
	if err == nil {
		t.Fatal("query on a killed cluster succeeded")
	}
	if !postgres.IsTransient(fmt.Errorf("read stream: %w", err)) {
		t.Errorf("IsTransient(%v) = false, want true for a database that went away", err)
	}
}
