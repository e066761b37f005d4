package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/scheduler"
)

const maxWait = 60 * time.Second

type bundle struct {
	fx      *handlertest.Fixture
	beats   *heartbeat.Store
	sched   *scheduler.Scheduler
	workers []heartbeat.Worker
}

// setup gives a scenario on an in-memory log, with workers beating in a Postgres table of
// its own. Ties go to the first equal worker (by id), so scripts are stable.
func setup(t *testing.T, ttl time.Duration, workers ...heartbeat.Worker) *bundle {
	t.Helper()
	fx := handlertest.New(t)
	beats := heartbeat.New(pgtest.New(t).Pool)
	for _, w := range workers {
		if _, err := beats.Beat(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	// No backlog: the scenarios count slots exactly (TestABusyWorkerQueuesItsBacklog covers it).
	s, err := scheduler.New(scheduler.Config{Log: fx.Store(), Workers: beats, TTL: ttl, Backlog: -1, Tie: func(int) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{fx: fx, beats: beats, sched: s, workers: workers}
}

func worker(id string, running, max int, runtimes ...string) heartbeat.Worker {
	return heartbeat.Worker{ID: id, Name: id, Host: "h", Runtimes: runtimes, MaxConcurrency: max, Running: running}
}

func requested(id, runner string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "examples.act", RunnerType: runner}
}

func change(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

func TestPlacesOnTheLeastLoadedWorkerThatHasTheRuntime(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute,
		worker("busy", 3, 4, "python"),
		worker("idle-shell", 0, 4, "shell"), // idle, but cannot run python
		worker("light", 1, 4, "shell", "python3"),
		worker("full", 2, 2, "python"), // no free slot
	)
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "python3"))

	b.fx.WhenRedelivered(b.sched.Handle, rec[0])

	b.fx.Then(`
		ExecutionStatusChanged execution=e1 from=requested to=scheduling
		ExecutionScheduled execution=e1 worker=light runtime=python
		ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
	`)
}

func TestAliasesMeetOnTheCanonicalRuntime(t *testing.T) {
	t.Parallel()
	cases := []struct{ requested, listed, want string }{
		{"bash", "sh", "shell"},
		{"shell", "bash", "shell"},
		{"nodejs", "node", "node"},
		{"python", "python3", "python"},
		{"builtin", "builtin", "builtin"},
	}
	for _, tc := range cases {
		t.Run(tc.requested+" on "+tc.listed, func(t *testing.T) {
			t.Parallel()
			b := setup(t, time.Minute, worker("w1", 0, 1, tc.listed))
			rec := b.fx.Given(execution.StreamID("e1"), requested("e1", tc.requested))
			b.fx.When(b.sched.Handle, rec[0])
			b.fx.Then(`
				ExecutionStatusChanged execution=e1 from=requested to=scheduling
				ExecutionScheduled execution=e1 worker=w1 runtime=` + tc.want + `
				ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
			`)
		})
	}
}

func TestWithoutACapableLiveWorkerTheExecutionWaitsInScheduling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ttl     time.Duration
		workers []heartbeat.Worker
	}{
		{"no worker at all", time.Minute, nil},
		{"python action, shell-only worker", time.Minute, []heartbeat.Worker{worker("sh1", 0, 8, "shell", "builtin")}},
		{"every capable worker is full", time.Minute, []heartbeat.Worker{worker("w1", 4, 4, "python")}},
		// Its last beat is older than the TTL by the time the scheduler asks.
		{"the capable worker stopped beating", time.Microsecond, []heartbeat.Worker{worker("w1", 0, 4, "python")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tc.ttl, tc.workers...)
			rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "python"))
			b.fx.WhenRedelivered(b.sched.Handle, rec[0])
			b.fx.Then(`ExecutionStatusChanged execution=e1 from=requested to=scheduling`)
		})
	}
}

func TestNothingToDo(t *testing.T) {
	t.Parallel()
	givens := map[string]func(b *bundle) eventstore.Recorded{
		"a workflow: the engine runs it": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), requested("e1", "workflow"))[0]
		},
		"core.ask: the inquiry engine runs it": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), execution.ExecutionRequested{ExecutionID: "e1", Action: "core.ask", RunnerType: "builtin"})[0]
		},
		"cancelled before the message arrived": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), requested("e1", "python"),
				change("e1", execution.Requested, execution.Cancelled))[0]
		},
		"already scheduled (a redelivery)": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), requested("e1", "python"),
				change("e1", execution.Requested, execution.Scheduling),
				execution.ExecutionScheduled{ExecutionID: "e1", WorkerID: "w1", Runtime: "python"},
				change("e1", execution.Scheduling, execution.Scheduled))[0]
		},
		"another event type": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), requested("e1", "python"),
				change("e1", execution.Requested, execution.Scheduling))[1]
		},
	}
	for name, given := range givens {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, time.Minute, worker("w1", 0, 4, "python"))
			b.fx.WhenRedelivered(b.sched.Handle, given(b))
			b.fx.Then("")
		})
	}
}

func TestARuntimeNoWorkerCanHaveFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("w1", 0, 4, "python", "shell", "node", "builtin"))
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "ruby"))
	b.fx.WhenRedelivered(b.sched.Handle, rec[0])
	b.fx.Then(`ExecutionStatusChanged execution=e1 from=requested to=failed reason="unknown runner type \"ruby\": no worker can run it"`)
}

func TestABurstSpreadsOverWorkersUpToTheirSlots(t *testing.T) {
	t.Parallel()
	// Both workers beat once, idle; no beat comes between the placements.
	b := setup(t, time.Minute, worker("w1", 0, 2, "shell"), worker("w2", 0, 2, "shell"))
	var delivered []eventstore.Recorded
	for _, id := range []string{"e1", "e2", "e3", "e4", "e5"} {
		delivered = append(delivered, b.fx.Given(execution.StreamID(id), requested(id, "shell"))[0])
	}

	b.fx.When(b.sched.Handle, delivered...)

	var placed []string
	for _, e := range b.fx.Appended() {
		if e.Type == "ExecutionScheduled" {
			placed = append(placed, handlertest.Summary(e))
		}
	}
	want := []string{
		"ExecutionScheduled execution=e1 worker=w1 runtime=shell",
		"ExecutionScheduled execution=e2 worker=w2 runtime=shell",
		"ExecutionScheduled execution=e3 worker=w1 runtime=shell",
		"ExecutionScheduled execution=e4 worker=w2 runtime=shell",
	}
	if strings.Join(placed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("placed:\n%s\nwant (e5 waits: every slot is taken):\n%s", strings.Join(placed, "\n"), strings.Join(want, "\n"))
	}

	// A new beat is the worker's own account of its load and replaces the local count.
	if _, err := b.beats.Beat(context.Background(), worker("w1", 0, 2, "shell")); err != nil {
		t.Fatal(err)
	}
	res, err := b.sched.Retry(context.Background(), "e5", b.fx.Now(), maxWait)
	if err != nil || res != scheduler.Placed {
		t.Fatalf("Retry after w1 reported free slots = %s, %v; want placed", res, err)
	}
}

// script is what was appended, for Retry, which acts on time rather than on a delivered
// event; it checks that each event names the stream's previous last event as its cause.
func script(t *testing.T, b *bundle, cause eventstore.Recorded) string {
	t.Helper()
	appended := b.fx.Appended()
	for _, e := range appended {
		if e.Metadata.CausationID != cause.ID.String() {
			t.Errorf("%s caused by %q, want the execution's last event %s", handlertest.Summary(e), e.Metadata.CausationID, cause.ID)
		}
	}
	return handlertest.Script(appended)
}

func TestRetryFailsAtTheDeadlineWithTheRuntimeItWaitedFor(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("sh1", 0, 4, "shell"))
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "python3"), change("e1", execution.Requested, execution.Scheduling))
	ctx := context.Background()

	res, err := b.sched.Retry(ctx, "e1", b.fx.Now().Add(maxWait-time.Second), maxWait)
	if err != nil || res != scheduler.Waiting {
		t.Fatalf("Retry before the deadline = %s, %v; want waiting", res, err)
	}
	res, err = b.sched.Retry(ctx, "e1", b.fx.Now().Add(maxWait), maxWait)
	if err != nil || res != scheduler.Failed {
		t.Fatalf("Retry at the deadline = %s, %v; want failed", res, err)
	}
	if got, want := script(t, b, rec[1]), `ExecutionStatusChanged execution=e1 from=scheduling to=failed reason="no worker for runtime python"`; got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
	res, err = b.sched.Retry(ctx, "e1", b.fx.Now().Add(2*maxWait), maxWait)
	if err != nil || res != scheduler.Unchanged {
		t.Fatalf("Retry of a failed execution = %s, %v; want unchanged", res, err)
	}
}

func TestABusyWorkerQueuesItsBacklog(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	beats := heartbeat.New(pgtest.New(t).Pool)
	if _, err := beats.Beat(context.Background(), worker("w1", 2, 2, "shell")); err != nil {
		t.Fatal(err)
	}
	s, err := scheduler.New(scheduler.Config{Log: fx.Store(), Workers: beats, TTL: time.Minute, Backlog: 1, Tie: func(int) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	var delivered []eventstore.Recorded
	for _, id := range []string{"e1", "e2", "e3"} {
		delivered = append(delivered, fx.Given(execution.StreamID(id), requested(id, "shell"))...)
	}
	fx.When(s.Handle, delivered...)
	var placed []string
	for _, e := range fx.Appended() {
		if e.Type == "ExecutionScheduled" {
			placed = append(placed, handlertest.Summary(e))
		}
	}
	// Both slots are busy; a backlog of 1 run per slot lets it queue two more, not three.
	want := "ExecutionScheduled execution=e1 worker=w1 runtime=shell\nExecutionScheduled execution=e2 worker=w1 runtime=shell"
	if got := strings.Join(placed, "\n"); got != want {
		t.Fatalf("placed:\n%s\nwant:\n%s", got, want)
	}
}

func TestBusyCapableWorkersAreWaitedForPastTheDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("w1", 4, 4, "python"))
	b.fx.Given(execution.StreamID("e1"), requested("e1", "python"), change("e1", execution.Requested, execution.Scheduling))
	res, err := b.sched.Retry(context.Background(), "e1", b.fx.Now().Add(10*maxWait), maxWait)
	if err != nil || res != scheduler.Waiting {
		t.Fatalf("Retry long past the deadline with a busy python worker = %s, %v; want waiting: busy is not missing", res, err)
	}
}

func TestRetryPlacesOnceAWorkerTurnsUp(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute)
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "node"), change("e1", execution.Requested, execution.Scheduling))
	if _, err := b.beats.Beat(context.Background(), worker("n1", 0, 1, "nodejs")); err != nil {
		t.Fatal(err)
	}

	res, err := b.sched.Retry(context.Background(), "e1", b.fx.Now().Add(time.Second), maxWait)
	if err != nil || res != scheduler.Placed {
		t.Fatalf("Retry = %s, %v; want placed", res, err)
	}
	want := "ExecutionScheduled execution=e1 worker=n1 runtime=node\nExecutionStatusChanged execution=e1 from=scheduling to=scheduled"
	if got := script(t, b, rec[1]); got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
}

func TestRetryPicksUpARequestTheSchedulerNeverHandled(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("w1", 0, 1, "shell"))
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "sh"))
	ctx := context.Background()

	// Young: its message is presumably on its way to the scheduler.
	if res, err := b.sched.Retry(ctx, "e1", b.fx.Now().Add(time.Second), maxWait); err != nil || res != scheduler.Unchanged {
		t.Fatalf("Retry of a fresh request = %s, %v; want unchanged", res, err)
	}
	if res, err := b.sched.Retry(ctx, "e1", b.fx.Now().Add(maxWait), maxWait); err != nil || res != scheduler.Placed {
		t.Fatalf("Retry of a stale request = %s, %v; want placed", res, err)
	}
	want := "ExecutionStatusChanged execution=e1 from=requested to=scheduling\n" +
		"ExecutionScheduled execution=e1 worker=w1 runtime=shell\n" +
		"ExecutionStatusChanged execution=e1 from=scheduling to=scheduled"
	if got := script(t, b, rec[0]); got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
}

// racingLog lets a cancel land between the scheduler's read and its append.
type racingLog struct {
	scheduler.Log
	race func()
}

func (l racingLog) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	l.race()
	return l.Log.Append(ctx, stream, expected, events...)
}

func TestACancelThatLandsFirstWins(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("w1", 0, 1, "shell"))
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"))
	cancel := func() {
		p, err := eventstore.NewProposed(change("e1", execution.Requested, execution.Cancelled), rec[0].Metadata)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.fx.Store().Append(context.Background(), execution.StreamID("e1"), eventstore.Exact(1), p); err != nil {
			t.Fatal(err)
		}
	}
	racing, err := scheduler.New(scheduler.Config{Log: racingLog{Log: b.fx.Store(), race: cancel}, Workers: b.beats})
	if err != nil {
		t.Fatal(err)
	}
	// The append conflicts; the scheduler decides again on the stream as it is now and
	// finds the execution cancelled: nothing more.
	if err := b.fx.Deliver(racing.Handle, rec[0]); err != nil {
		t.Fatalf("Handle during a race = %v, want the conflict decided again: nothing to do", err)
	}
	// A redelivery finds it cancelled too.
	if err := b.fx.Deliver(b.sched.Handle, rec[0]); err != nil {
		t.Fatalf("retry after the race: %v", err)
	}
	if got := handlertest.Script(b.fx.Appended()); got != "ExecutionStatusChanged execution=e1 from=requested to=cancelled" {
		t.Fatalf("appended:\n%s\nwant only the cancel", got)
	}
}

func TestAnExecutionTakenBackFromAWorkerGoesToAnotherOneIfAnyCanTakeIt(t *testing.T) {
	t.Parallel()
	// "a" sorts first and is idle, so a plain placement would choose it; it is the worker
	// the execution was taken back from (it never started it), so "b" is preferred.
	b := setup(t, time.Minute, worker("a", 0, 4, "shell"), worker("b", 1, 4, "shell"))
	taken := execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Scheduled, To: execution.Scheduling, WorkerID: "a", Reason: "worker a left"}
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"), change("e1", execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: "e1", WorkerID: "a", Runtime: "shell"}, change("e1", execution.Scheduling, execution.Scheduled), taken)

	b.fx.WhenRedelivered(b.sched.Handle, rec[0])

	b.fx.Then(`
		ExecutionScheduled execution=e1 worker=b runtime=shell
		ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
	`)
}

func TestAnExecutionTakenBackGoesBackToTheSameWorkerIfNoOtherCanTakeIt(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Minute, worker("a", 0, 4, "shell"), worker("py", 0, 4, "python"))
	taken := execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Scheduled, To: execution.Scheduling, WorkerID: "a", Reason: "placement not held"}
	rec := b.fx.Given(execution.StreamID("e1"), requested("e1", "shell"), change("e1", execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: "e1", WorkerID: "a", Runtime: "shell"}, change("e1", execution.Scheduling, execution.Scheduled), taken)

	b.fx.WhenRedelivered(b.sched.Handle, rec[0])

	b.fx.Then(`
		ExecutionScheduled execution=e1 worker=a runtime=shell
		ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
	`)
}
