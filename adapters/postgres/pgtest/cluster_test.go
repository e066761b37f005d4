package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// A crash of the private cluster loses nothing that was committed, and the cluster serves
// again after Start: what the fault tests rely on.
func TestClusterSurvivesACrashWithItsCommittedData(t *testing.T) {
	t.Parallel()
	c := pgtest.StartCluster(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
	c.Kill()
	if conn, err := pgx.Connect(ctx, c.URL()); err == nil {
		conn.Close(ctx)
		t.Fatal("the killed cluster still accepts connections")
	}
	c.Start()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 42 {
		t.Fatalf("after the crash: n=%d err=%v, want 42", n, err)
	}
}
