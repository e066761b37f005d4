package readmodel_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

func TestCountExecutionsByStatus(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()

	counts, err := db.CountExecutionsByStatus(ctx)
	if err != nil || len(counts) != 0 {
		t.Fatalf("counts of an empty read model = %v, %v; want none", counts, err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var xs []executions.Execution
	for i, st := range []execution.Status{execution.Running, execution.Completed, execution.Running, execution.Failed, execution.Running} {
		xs = append(xs, executions.Execution{ID: string(rune('a' + i)), Action: "core.noop", Status: st,
			CreatedAt: at, UpdatedAt: at, Version: 1, Position: pos(uint64(i + 1))})
	}
	save(t, db, eventstore.Start, pos(5), xs...)

	counts, err = db.CountExecutionsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[execution.Status]int64{execution.Running: 3, execution.Completed: 1, execution.Failed: 1}
	if !maps.Equal(counts, want) {
		t.Fatalf("counts = %v, want %v", counts, want)
	}
}

func TestOldestByStatus(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	waiting := []execution.Status{execution.Requested, execution.Scheduled, execution.Running}

	oldest, err := db.OldestByStatus(ctx, waiting...)
	if err != nil || len(oldest) != 0 {
		t.Fatalf("oldest of an empty read model = %v, %v; want none", oldest, err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var xs []executions.Execution
	for i, x := range []struct {
		st  execution.Status
		age time.Duration // created this long before t0
	}{
		{execution.Running, time.Minute}, {execution.Running, time.Hour}, {execution.Scheduled, time.Second},
		{execution.Completed, 24 * time.Hour}, // terminal: not asked for
	} {
		at := t0.Add(-x.age)
		xs = append(xs, executions.Execution{ID: string(rune('a' + i)), Action: "core.noop", Status: x.st,
			CreatedAt: at, UpdatedAt: at, Version: 1, Position: pos(uint64(i + 1))})
	}
	save(t, db, eventstore.Start, pos(4), xs...)

	oldest, err = db.OldestByStatus(ctx, waiting...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[execution.Status]time.Time{execution.Running: t0.Add(-time.Hour), execution.Scheduled: t0.Add(-time.Second)}
	if !maps.Equal(oldest, want) {
		t.Fatalf("oldest = %v, want %v", oldest, want)
	}
}
