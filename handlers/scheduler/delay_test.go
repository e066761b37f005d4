package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/scheduler"
)

// setupClock is setup with the scheduler on the fixture's clock, so that a not_before is
// future or past as the scenario says.
func setupClock(t *testing.T, workers ...heartbeat.Worker) *bundle {
	t.Helper()
	b := setup(t, time.Minute, workers...)
	s, err := scheduler.New(scheduler.Config{Log: b.fx.Store(), Workers: b.beats, TTL: time.Minute, Backlog: -1,
		Tie: func(int) int { return 0 }, Now: b.fx.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.sched = s
	return b
}

func notBefore(id, runner string, at time.Time) execution.ExecutionRequested {
	r := requested(id, runner)
	r.NotBefore = at
	return r
}

func TestARequestForLaterIsDelayedUntilItsNotBefore(t *testing.T) {
	t.Parallel()
	b := setupClock(t, worker("w1", 0, 4, "shell"))
	rec := b.fx.Given(execution.StreamID("e1"), notBefore("e1", "shell", b.fx.Now().Add(30*time.Second)))

	b.fx.WhenRedelivered(b.sched.Handle, rec[0])

	b.fx.Then(`
		ExecutionDelayed execution=e1 reason="delayed until 2026-01-02T03:04:35Z" until=2026-01-02T03:04:35Z
		ExecutionStatusChanged execution=e1 from=requested to=delayed reason="delayed until 2026-01-02T03:04:35Z"
	`)
}

func TestARequestWhoseNotBeforeHasPassedIsScheduledAtOnce(t *testing.T) {
	t.Parallel()
	b := setupClock(t, worker("w1", 0, 4, "shell"))
	rec := b.fx.Given(execution.StreamID("e1"), notBefore("e1", "shell", b.fx.Now().Add(-time.Second)))

	b.fx.WhenRedelivered(b.sched.Handle, rec[0])

	b.fx.Then(`
		ExecutionStatusChanged execution=e1 from=requested to=scheduling
		ExecutionScheduled execution=e1 worker=w1 runtime=shell
		ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
	`)
}

func TestRetryReleasesADelayedExecutionAtItsNotBefore(t *testing.T) {
	t.Parallel()
	b := setupClock(t, worker("w1", 0, 4, "shell"))
	at := b.fx.Now().Add(30 * time.Second)
	rec := b.fx.Given(execution.StreamID("e1"),
		notBefore("e1", "shell", at),
		policy.ExecutionDelayed{ExecutionID: "e1", Reason: "delayed until then", Until: at},
		execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Requested, To: execution.Delayed, Reason: "delayed until then"},
	)
	ctx := context.Background()

	if res, err := b.sched.Retry(ctx, "e1", at.Add(-time.Millisecond), maxWait); err != nil || res != scheduler.Unchanged {
		t.Fatalf("Retry before the not_before = %s, %v; want unchanged", res, err)
	}
	// Its scheduling deadline counts from the release, not from the request.
	if res, err := b.sched.Retry(ctx, "e1", at.Add(2*maxWait), maxWait); err != nil || res != scheduler.Placed {
		t.Fatalf("Retry after the not_before = %s, %v; want placed", res, err)
	}
	want := "ExecutionStatusChanged execution=e1 from=delayed to=scheduling\n" +
		"ExecutionScheduled execution=e1 worker=w1 runtime=shell\n" +
		"ExecutionStatusChanged execution=e1 from=scheduling to=scheduled"
	if got := script(t, b, rec[2]); got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
}

func TestRetryLeavesAnExecutionAPolicyDelayed(t *testing.T) {
	t.Parallel()
	b := setupClock(t, worker("w1", 0, 4, "shell"))
	b.fx.Given(execution.StreamID("e1"),
		requested("e1", "shell"),
		policy.ExecutionDelayed{ExecutionID: "e1", Policy: "examples.one_at_a_time", PolicyType: policy.Concurrency, Reason: "1 running"},
		execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Requested, To: execution.Delayed, Reason: "1 running"},
	)
	if res, err := b.sched.Retry(context.Background(), "e1", b.fx.Now().Add(time.Hour), maxWait); err != nil || res != scheduler.Unchanged {
		t.Fatalf("Retry of a policy's delay = %s, %v; want unchanged", res, err)
	}
	if got := b.fx.Appended(); len(got) != 0 {
		t.Fatalf("appended %d events, want none", len(got))
	}
}
