package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// A table that grew from empty is analyzed once it doubled past MinRows, and not again until
// it doubles once more; a small table is left alone.
func TestAnalyzerAnalyzesTablesThatDoubled(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewEmpty(t)
	for _, q := range []string{
		`CREATE TABLE grows (id bigint PRIMARY KEY)`,
		`CREATE TABLE small (id bigint PRIMARY KEY)`,
		`ANALYZE grows`, `ANALYZE small`, // empty, as a fresh database's tables are
		`INSERT INTO grows SELECT generate_series(1, 3000)`,
		`INSERT INTO small SELECT generate_series(1, 10)`,
	} {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	a := &postgres.Analyzer{Pool: s.Pool, MinRows: 1000}
	// The inserting sessions report their counts to the statistics system within a second or so.
	analyzed := waitAnalyzed(t, a, 10*time.Second)
	if !slices.Equal(analyzed, []string{"grows"}) {
		t.Fatalf("analyzed %v, want [grows]", analyzed)
	}
	var reltuples float64
	if err := s.Pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'grows'::regclass`).Scan(&reltuples); err != nil {
		t.Fatal(err)
	}
	if reltuples != 3000 {
		t.Fatalf("grows: reltuples %v after the analyze, want 3000", reltuples)
	}
	// Not doubled since: nothing to do.
	if again, err := a.Once(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second look analyzed %v (err %v), want nothing", again, err)
	}
}

func waitAnalyzed(t *testing.T, a *postgres.Analyzer, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := a.Once(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}
