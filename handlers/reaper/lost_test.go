package reaper_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/projections/executions"
)

// The reaper is not a bus handler but a pass over the read model; these tests drive it
// Given/When/Then all the same: the "delivery" is a pass, and every pass is made twice, as a
// second reaper (or the next tick before the read model caught up) would.

// table is the heartbeat table and the executions read model as the reaper sees them,
// answered from the fixture's log so that they agree with it.
type table struct {
	log  eventstore.Store
	live []heartbeat.Worker
	ids  []string
	// at is the time of the pass under way: what a pass appends is recorded then (the
	// fixture's clock stamps everything with one time).
	at    time.Time
	given map[string]int // events per execution stream before the passes
}

func (tb *table) Live(context.Context, time.Duration) ([]heartbeat.Worker, error) {
	return tb.live, nil
}
func (tb *table) Lost(context.Context, time.Duration) ([]heartbeat.Worker, error) { return nil, nil }
func (tb *table) Remove(_ context.Context, id string) error {
	tb.live = slices.DeleteFunc(tb.live, func(w heartbeat.Worker) bool { return w.ID == id })
	return nil
}

func (tb *table) ListExecutions(ctx context.Context, f executions.Filter) (executions.Page, error) {
	var page executions.Page
	for _, id := range tb.ids {
		recorded, err := tb.log.ReadStream(ctx, execution.StreamID(id))
		if err != nil {
			return page, err
		}
		events := make([]event.Event, len(recorded))
		for i, r := range recorded {
			if events[i], err = r.Decode(); err != nil {
				return page, err
			}
		}
		x, err := execution.FromEvents(events)
		if err != nil {
			return page, err
		}
		if tb.given == nil {
			tb.given = map[string]int{}
		}
		if _, ok := tb.given[id]; !ok {
			tb.given[id] = len(recorded)
		}
		updated := recorded[len(recorded)-1].RecordedAt
		if len(recorded) > tb.given[id] {
			updated = tb.at
		}
		if slices.Contains(f.Status, x.Status()) {
			page.Items = append(page.Items, executions.Execution{ID: id, Status: x.Status(), Worker: x.WorkerID(), RunnerType: x.RunnerType(),
				CreatedAt: recorded[0].RecordedAt, UpdatedAt: updated})
		}
	}
	return page, nil
}

// passes returns a "handler" that makes one reaper pass per delivery, at now.
func passes(t *testing.T, fx *handlertest.Fixture, tb *table, now time.Time) func(context.Context, eventstore.Recorded) error {
	t.Helper()
	return passesWith(t, fx, tb, now, reaper.Config{})
}

// passesWith is passes with a reaper configured by cfg (its dependencies filled in).
func passesWith(t *testing.T, fx *handlertest.Fixture, tb *table, now time.Time, cfg reaper.Config) func(context.Context, eventstore.Recorded) error {
	t.Helper()
	clock := func() time.Time { return now }
	s, err := scheduler.New(scheduler.Config{Log: fx.Store(), Workers: tb, Now: clock, Tie: func(int) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log, cfg.Heartbeats, cfg.Executions, cfg.Scheduler, cfg.Now = fx.Store(), tb, tb, s, clock
	r, err := reaper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, _ eventstore.Recorded) error {
		tb.at = now
		return r.Pass(ctx)
	}
}

func changed(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// placedOn is the life of execution id up to scheduled on worker w, then through path.
func placedOn(id, w string, path ...execution.Status) []event.Event {
	events := []event.Event{
		execution.ExecutionRequested{ExecutionID: id, Action: "core.local", RunnerType: "shell"},
		changed(id, execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: w, Runtime: "shell"},
		changed(id, execution.Scheduling, execution.Scheduled),
	}
	from := execution.Scheduled
	for _, to := range path {
		events = append(events, changed(id, from, to))
		from = to
	}
	return events
}

func registration(id string) worker.WorkerRegistered {
	return worker.WorkerRegistered{WorkerID: id, Name: id, Host: "h", Capabilities: worker.Capabilities{Runtimes: []string{"shell"}}, MaxConcurrency: 4}
}

func liveWorker(id string, holds int) heartbeat.Worker {
	return heartbeat.Worker{ID: id, Runtimes: []string{"shell"}, MaxConcurrency: 4, Running: holds}
}

func TestWhatALostWorkerNeverStartedIsPlacedAgainAndWhatItRanIsAbandoned(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	tb := &table{log: fx.Store(), live: []heartbeat.Worker{liveWorker("w2", 0)}, ids: []string{"e1", "e2", "e3"}}
	left := fx.Given(worker.StreamID("w1"), registration("w1"), worker.WorkerDeregistered{WorkerID: "w1", Reason: "no heartbeat for 6s", Lost: true})
	fx.Given(worker.StreamID("w2"), registration("w2"))
	fx.Given(execution.StreamID("e1"), placedOn("e1", "w1")...)
	fx.Given(execution.StreamID("e2"), placedOn("e2", "w1", execution.Running)...)
	fx.Given(execution.StreamID("e3"), placedOn("e3", "w1", execution.Running, execution.Canceling)...)

	fx.WhenRedelivered(passes(t, fx, tb, fx.Now()), left[1])

	got := handlertest.Script(fx.Appended())
	want := `ExecutionStatusChanged execution=e1 from=scheduled to=scheduling reason="worker w1 left (lost: no heartbeat for 6s) before it started the run; placed again" worker=w1
ExecutionScheduled execution=e1 worker=w2 runtime=shell
ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
ExecutionStatusChanged execution=e2 from=running to=abandoned reason="worker w1 left (lost: no heartbeat for 6s)" worker=w1
ExecutionStatusChanged execution=e3 from=canceling to=abandoned reason="worker w1 left (lost: no heartbeat for 6s)" worker=w1`
	if !sameLines(got, want) {
		t.Fatalf("appended:\n%s\nwant (in any order across executions):\n%s", got, want)
	}
	for _, r := range fx.Appended() {
		if r.StreamID == execution.StreamID("e1") && r.Type == "ExecutionStatusChanged" && r.Metadata.CausationID == "" {
			t.Errorf("%s has no cause", handlertest.Summary(r))
		}
	}
	// The workers' departure is the cause of what the reaper decided for their executions.
	if first := fx.Appended()[0]; first.StreamID == execution.StreamID("e1") && first.Metadata.CausationID != left[1].ID.String() {
		t.Errorf("placed again with cause %q, want the worker's departure %s", first.Metadata.CausationID, left[1].ID)
	}
}

func TestAnExecutionWhoseWorkersKeepLeavingIsAbandonedAtTheLimit(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	tb := &table{log: fx.Store(), live: []heartbeat.Worker{liveWorker("w2", 0)}, ids: []string{"e1"}}
	left := fx.Given(worker.StreamID("w1"), registration("w1"), worker.WorkerDeregistered{WorkerID: "w1", Reason: "stopped"})
	history := placedOn("e1", "w1")
	for range execution.MaxPlacements - 1 {
		history = append(history,
			execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Scheduled, To: execution.Scheduling, WorkerID: "w1", Reason: "worker w1 left"},
			execution.ExecutionScheduled{ExecutionID: "e1", WorkerID: "w1", Runtime: "shell"},
			changed("e1", execution.Scheduling, execution.Scheduled))
	}
	fx.Given(execution.StreamID("e1"), history...)

	fx.WhenRedelivered(passes(t, fx, tb, fx.Now()), left[1])

	fx.Then(`ExecutionStatusChanged execution=e1 from=scheduled to=abandoned reason="worker w1 left (stopped) before it started the run; placed 5 times already, given up" worker=w1`)
}

func TestALiveWorkerThatNeverGotAPlacementLosesItAtTheDeadline(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	// w1 beats, but holds nothing, although two executions were placed on it: their
	// ExecutionScheduled never reached it (a second server's scheduler, a lost message).
	tb := &table{log: fx.Store(), live: []heartbeat.Worker{liveWorker("w1", 0), liveWorker("w2", 0)}, ids: []string{"e1", "e2"}}
	fx.Given(worker.StreamID("w1"), registration("w1"))
	fx.Given(worker.StreamID("w2"), registration("w2"))
	e1 := fx.Given(execution.StreamID("e1"), placedOn("e1", "w1")...)
	e2 := fx.Given(execution.StreamID("e2"), placedOn("e2", "w1", execution.Running, execution.Canceling)...)

	// Before the deadlines nothing happens.
	fx.WhenRedelivered(passes(t, fx, tb, fx.Now().Add(reaper.DefaultCancelDeadline-time.Second)), e1[3], e2[5])
	if got := handlertest.Script(fx.Appended()); got != "" {
		t.Fatalf("before the deadlines the reaper appended:\n%s", got)
	}

	fx.WhenRedelivered(passes(t, fx, tb, fx.Now().Add(reaper.DefaultScheduledDeadline)), e1[3], e2[5])

	want := `ExecutionStatusChanged execution=e1 from=scheduled to=scheduling reason="worker w1 did not start it within 5m0s, and holds 0 of the 2 placed on it; placed again" worker=w1
ExecutionScheduled execution=e1 worker=w2 runtime=shell
ExecutionStatusChanged execution=e1 from=scheduling to=scheduled
ExecutionStatusChanged execution=e2 from=canceling to=abandoned reason="worker w1 did not end the run within 2m0s of the cancel" worker=w1`
	if got := handlertest.Script(fx.Appended()); !sameLines(got, want) {
		t.Fatalf("appended:\n%s\nwant (in any order across executions):\n%s", got, want)
	}
}

func TestABusyWorkersBacklogIsLeftToIt(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	// w1 holds both executions placed on it: one runs, one waits in its queue.
	tb := &table{log: fx.Store(), live: []heartbeat.Worker{liveWorker("w1", 2), liveWorker("w2", 0)}, ids: []string{"e1", "e2"}}
	fx.Given(worker.StreamID("w1"), registration("w1"))
	fx.Given(worker.StreamID("w2"), registration("w2"))
	e1 := fx.Given(execution.StreamID("e1"), placedOn("e1", "w1")...)
	e2 := fx.Given(execution.StreamID("e2"), placedOn("e2", "w1", execution.Running)...)

	fx.WhenRedelivered(passes(t, fx, tb, fx.Now().Add(time.Hour)), e1[3], e2[4])

	fx.Then("")
}

// sameLines compares two scripts as multisets of lines, but keeps each execution's own
// lines in order.
func sameLines(got, want string) bool {
	g, w := splitByExecution(got), splitByExecution(want)
	if len(g) != len(w) {
		return false
	}
	for k, lines := range w {
		if !slices.Equal(g[k], lines) {
			return false
		}
	}
	return true
}

func splitByExecution(script string) map[string][]string {
	out := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		key := ""
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "execution=") {
				key = f
			}
		}
		out[key] = append(out[key], l)
	}
	return out
}

func TestAWorkflowStillRequestedAfterTheDeadlineIsHandedToTheEngineAgain(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	tb := &table{log: fx.Store(), ids: []string{"wf", "plain"}}
	wf := fx.Given(execution.StreamID("wf"), execution.ExecutionRequested{ExecutionID: "wf", Action: "examples.flow", RunnerType: "workflow"})
	plain := fx.Given(execution.StreamID("plain"), execution.ExecutionRequested{ExecutionID: "plain", Action: "core.local", RunnerType: "shell"})
	var started []string
	cfg := reaper.Config{WorkflowStart: func(_ context.Context, e eventstore.Recorded) error {
		started = append(started, e.StreamID+" "+e.Type)
		return nil
	}}

	fx.WhenRedelivered(passesWith(t, fx, tb, fx.Now().Add(reaper.DefaultSchedulingDeadline-time.Second), cfg), wf[0])
	if len(started) != 0 || handlertest.Script(fx.Appended()) != "" {
		t.Fatalf("before the deadline: started %v, appended %q; want nothing", started, handlertest.Script(fx.Appended()))
	}
	fx.When(passesWith(t, fx, tb, fx.Now().Add(reaper.DefaultSchedulingDeadline), cfg), plain[0])

	if want := []string{"execution-wf ExecutionRequested"}; !slices.Equal(started, want) {
		t.Fatalf("handed to the workflow engine: %v, want %v", started, want)
	}
	// The plain execution, requested as long, is moved on by the scheduler's path.
	fx.Then(`ExecutionStatusChanged execution=plain from=requested to=scheduling`)
}

// racing is the log as a slow worker races the reaper: just before the reaper's first append
// to the execution, the worker appends its own scheduled → running.
type racing struct {
	eventstore.Store
	raced bool
}

func (r *racing) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if !r.raced && stream == execution.StreamID("e1") {
		r.raced = true
		p, err := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Scheduled, To: execution.Running, WorkerID: "w1"},
			event.Metadata{CorrelationID: "given", Actor: "worker:w1"})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if _, err := r.Store.Append(ctx, stream, eventstore.Any, p); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

func TestAWorkerThatStartsTheRunAsTheReaperTakesItBackKeepsIt(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	tb := &table{log: fx.Store(), live: []heartbeat.Worker{liveWorker("w2", 0)}, ids: []string{"e1"}}
	left := fx.Given(worker.StreamID("w1"), registration("w1"), worker.WorkerDeregistered{WorkerID: "w1", Reason: "stopped"})
	fx.Given(execution.StreamID("e1"), placedOn("e1", "w1")...)
	log := &racing{Store: fx.Store()}
	s, err := scheduler.New(scheduler.Config{Log: log, Workers: tb, Tie: func(int) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reaper.New(reaper.Config{Log: log, Heartbeats: tb, Executions: tb, Scheduler: s, Now: fx.Now})
	if err != nil {
		t.Fatal(err)
	}

	fx.WhenRedelivered(func(ctx context.Context, _ eventstore.Recorded) error { return r.Pass(ctx) }, left[1])

	// The reaper's scheduled → scheduling loses the race (expected version): the run began,
	// so it is not placed again, and the next pass abandons it as a run of a worker that left.
	got := handlertest.Script(fx.Appended())
	want := `ExecutionStatusChanged execution=e1 from=scheduled to=running worker=w1
ExecutionStatusChanged execution=e1 from=running to=abandoned reason="worker w1 left (stopped)" worker=w1`
	if got != want {
		t.Fatalf("appended:\n%s\nwant:\n%s", got, want)
	}
}

// countingReads counts the stream reads made through it.
type countingReads struct {
	eventstore.Store
	reads int
}

func (c *countingReads) ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error) {
	c.reads++
	return c.Store.ReadStream(ctx, stream)
}

func (c *countingReads) ReadStreamFrom(ctx context.Context, stream string, after int64) ([]eventstore.Recorded, error) {
	c.reads++
	return c.Store.ReadStreamFrom(ctx, stream, after)
}

// A plain execution requested less than the scheduling deadline ago is left to its
// ExecutionRequested's delivery without a look at its stream (the scheduler would decide
// nothing): under a backlog of requests the pass used to read every one of them each second.
// At the deadline it is read and moved on.
func TestAPassReadsNoPlainRequestBeforeItsDeadline(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	tb := &table{log: fx.Store(), ids: []string{"plain"}}
	fx.Given(execution.StreamID("plain"), execution.ExecutionRequested{ExecutionID: "plain", Action: "core.local", RunnerType: "shell"})
	log := &countingReads{Store: fx.Store()}
	pass := func(now time.Time) {
		t.Helper()
		clock := func() time.Time { return now }
		s, err := scheduler.New(scheduler.Config{Log: log, Workers: tb, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		r, err := reaper.New(reaper.Config{Log: log, Heartbeats: tb, Executions: tb, Scheduler: s, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		tb.at = now
		if err := r.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	pass(fx.Now().Add(reaper.DefaultSchedulingDeadline - time.Second))
	if log.reads != 0 {
		t.Fatalf("a pass before the deadline read %d streams, want none", log.reads)
	}
	pass(fx.Now().Add(reaper.DefaultSchedulingDeadline))
	if log.reads == 0 {
		t.Fatal("a pass at the deadline did not look at the execution")
	}
	if got, want := handlertest.Script(fx.Appended()), `ExecutionStatusChanged execution=plain from=requested to=scheduling`; !strings.Contains(got, want) {
		t.Fatalf("appended %q, want %q", got, want)
	}
}
