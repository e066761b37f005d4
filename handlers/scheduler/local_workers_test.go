package scheduler_test

import (
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/scheduler"
)

// Two in-process servers on one database (the guard lost with a restart): the other one's
// idle worker beats in the same table, yet this scheduler must place only on its own.
func TestWithOnlyLocalWorkersAnotherProcessIdleWorkerIsNeverChosen(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute,
		worker("theirs", 0, 4, "shell"), // idle: the least loaded, but unreachable
		worker("ours", 3, 4, "shell"),
	)
	s, err := scheduler.New(scheduler.Config{
		Log: b.fx.Store(), Workers: scheduler.OnlyWorkers(b.beats, func() []string { return []string{"ours"} }),
		TTL: time.Minute, Backlog: -1, Tie: func(int) int { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"))

	b.fx.WhenRedelivered(s.Handle, rec[0])

	b.fx.Then(`
		ExecutionStatusChanged execution=e1 from=requested to=scheduling
		ExecutionScheduled execution=e1 worker=ours runtime=shell
		ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
	`)
}

func TestWithNoLocalWorkerNothingIsPlaced(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("theirs", 0, 4, "shell"))
	s, err := scheduler.New(scheduler.Config{
		Log: b.fx.Store(), Workers: scheduler.OnlyWorkers(b.beats, func() []string { return nil }),
		TTL: time.Minute, Backlog: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"))

	b.fx.WhenRedelivered(s.Handle, rec[0])

	b.fx.Then(`ExecutionStatusChanged execution=e1 from=requested to=scheduling`)
}
