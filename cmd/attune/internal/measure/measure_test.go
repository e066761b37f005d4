package measure_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/cmd/attune/internal/measure"
)

// TestTracerCounts sends a known script of statements through a traced pool and checks
// every count: autocommit statements, an explicit transaction that writes, one that only
// reads, one rolled back, and a batch.
func TestTracerCounts(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	tracer := measure.NewTracer()
	pool, err := measure.Connect(ctx, pgtest.URL(), s.Name, "attune-measure-test", 2, tracer)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE m (n int)`); err != nil { // 1 statement, 1 tx (not a write by the heuristic)
		t.Fatal(err)
	}
	base := tracer.Counts()
	if _, err := pool.Exec(ctx, `INSERT INTO m VALUES (1)`); err != nil { // autocommit write
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM m`).Scan(&n); err != nil { // autocommit read
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { // a write transaction of two statements
		if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE m SET n = 2`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { // a read-only transaction
		_, err := tx.Exec(ctx, `SELECT 2`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx) // rolled back: a statement, no transaction
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM m`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{} // two statements in one implicit transaction that writes
	b.Queue(`SELECT 3`)
	b.Queue(`INSERT INTO m VALUES (4)`)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	got := tracer.Counts().Sub(base)
	want := measure.Counts{Statements: 8, Transactions: 5, WriteTransactions: 3, Rollbacks: 1}
	if got != want {
		t.Fatalf("counts:\n got %+v\nwant %+v", got, want)
	}
}

// TestCPUOfProcessesAndBackends checks that this process's CPU is read the same way from
// getrusage and /proc, and that the backends of a named pool are found and their CPU grows
// while they work.
func TestCPUOfProcessesAndBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Spin for CPU time, not wall time: on a loaded machine 50 ms of wall clock may be a few
	// ms of CPU, below /proc's 10 ms tick.
	spin := func(d time.Duration) {
		for start := measure.SelfCPU(); measure.SelfCPU()-start < d; {
		}
	}
	before := measure.SelfCPU()
	spin(50 * time.Millisecond)
	self, err := measure.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after := measure.SelfCPU(); after <= before || self <= 0 {
		t.Fatalf("CPU of this process: getrusage %s then %s, /proc %s", before, after, self)
	}

	s := pgtest.New(t)
	name := "attune-measure-" + strings.ToLower(ulid.Make().String()[20:])
	pool, err := measure.Connect(ctx, pgtest.URL(), s.Name, name, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	backends := measure.NewBackends(s.Pool, name)
	if err := backends.Start(ctx, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Work the backend for at least a few of the kernel's 10 ms ticks.
	if _, err := pool.Exec(ctx, `SELECT count(*) FROM generate_series(1, 3000000)`); err != nil {
		t.Fatal(err)
	}
	cpu, seen, err := backends.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen < 1 || cpu <= 0 {
		t.Fatalf("backends of %s: %d seen, %s of CPU", name, seen, cpu)
	}
}
