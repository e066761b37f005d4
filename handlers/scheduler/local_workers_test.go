package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
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

// With the liveness table read through a cache (heartbeat.Cache, as in serve), a worker that
// registers while the copy is fresh is still found at once: when no worker fits by the copy,
// the scheduler reads the table again before it lets the execution wait.
func TestACachedViewStillFindsAWorkerThatJustRegistered(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute)
	cache := heartbeat.NewCache(b.beats, time.Hour, nil) // the copy never ages out here
	for name, workers := range map[string]scheduler.Workers{
		"cache":            cache,
		"cache, only ours": scheduler.OnlyWorkers(cache, func() []string { return []string{"w1"} }),
	} {
		if _, ok := workers.(scheduler.Refreshing); !ok {
			t.Fatalf("%s: cannot be read afresh", name)
		}
	}
	s, err := scheduler.New(scheduler.Config{
		Log: b.fx.Store(), Workers: scheduler.OnlyWorkers(cache, func() []string { return []string{"w1"} }),
		TTL: time.Minute, Backlog: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	first := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"))
	second := b.fx.Given(execution.StreamID("e2"), requested("e2", "shell"))
	b.fx.When(s.Handle, first[0]) // no worker yet: the copy is empty
	if _, err := b.beats.Beat(context.Background(), worker("w1", 0, 1, "shell")); err != nil {
		t.Fatal(err)
	}
	b.fx.When(s.Handle, second[0])

	b.fx.Then(`
		ExecutionStatusChanged execution=e1 from=requested to=scheduling
		ExecutionStatusChanged execution=e2 from=requested to=scheduling
		ExecutionScheduled execution=e2 worker=w1 runtime=shell
		ExecutionStatusChanged execution=e2 from=scheduling to=scheduled
	`)
}
