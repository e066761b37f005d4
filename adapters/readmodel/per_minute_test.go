package readmodel

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/execution"
)

func TestExecutionsPerMinuteCountsTheWindowByMinuteAndStatus(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	db := New(s.Pool)
	t0 := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	got, err := db.ExecutionsPerMinute(ctx, t0.Add(-30*time.Minute), t0)
	if err != nil || len(got) != 0 {
		t.Fatalf("an empty read model: %v, %v; want no minutes", got, err)
	}
	for i, x := range []struct {
		ago    time.Duration
		status string
	}{
		{10 * time.Second, "completed"}, {20 * time.Second, "completed"}, {50 * time.Second, "failed"}, // minute 9:29
		{5*time.Minute + time.Second, "running"}, // minute 9:24
		{31 * time.Minute, "completed"},          // before the window
		{-time.Second, "completed"},              // at or after its end
	} {
		at := t0.Add(-x.ago)
		if _, err := s.Pool.Exec(ctx, `INSERT INTO executions (id, action, status, parameters, created_at, updated_at, version, position_major, position_minor)
VALUES ($1, 'p.a', $2, '{}', $3, $3, 1, 1, $4)`, string(rune('a'+i)), x.status, at, i+1); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.ExecutionsPerMinute(ctx, t0.Add(-30*time.Minute), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[time.Time]map[execution.Status]int64{
		t0.Add(-time.Minute):     {execution.Completed: 2, execution.Failed: 1},
		t0.Add(-6 * time.Minute): {execution.Running: 1},
	}
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("per minute = %v, want %v", got, want)
	}
}

// The overview asks every time it is shown: under a generic plan (what pgx's statement cache
// may settle on) the count must read executions_created's range, never the whole table.
func TestExecutionsPerMinuteNeverScansExecutions(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `INSERT INTO executions (id, action, status, parameters, created_at, updated_at, version, position_major, position_minor)
SELECT lpad(g::text, 26, '0'), 'p.a', 'completed', '{}', now() - g * interval '10 seconds', now(), 1, 1, g
FROM generate_series(1, 50000) AS g`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `ANALYZE executions`); err != nil {
		t.Fatal(err)
	}
	genericPlan(t, ctx, s.Pool, "per_minute", executionsPerMinuteSQL,
		`EXECUTE per_minute(now() - interval '30 minutes', now())`, "executions", "executions_created")
}
