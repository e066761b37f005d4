package canceler_test

import (
	"context"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/canceler"
	"github.com/attune-go/attune/handlers/handlertest"
)

func change(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// onWorker is the life of execution id up to canceling, run by worker w1.
func onWorker(id string) []event.Event {
	return []event.Event{
		execution.ExecutionRequested{ExecutionID: id, Action: "core.local", RunnerType: "shell"},
		change(id, execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w1", Runtime: "shell"},
		change(id, execution.Scheduling, execution.Scheduled),
		change(id, execution.Scheduled, execution.Running),
		change(id, execution.Running, execution.Canceling),
	}
}

var (
	registered = worker.WorkerRegistered{WorkerID: "w1", Name: "w1", Host: "h1", MaxConcurrency: 4}
	lost       = worker.WorkerDeregistered{WorkerID: "w1", Reason: "no heartbeat for 30s", Lost: true}
)

func TestCancelAfterTheWorkerLeftAbandonsTheExecution(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	h := canceler.New(fx.Store())
	fx.Given(worker.StreamID("w1"), registered, lost)
	rec := fx.Given(execution.StreamID("e1"), onWorker("e1")...)

	// Every status change is delivered, each twice and shuffled; only canceling matters,
	// and only once.
	fx.WhenRedelivered(h.Handle, rec[1], rec[3], rec[4], rec[5])

	fx.Then(`
		ExecutionStatusChanged execution=e1 from=canceling to=abandoned reason="cancel requested after worker w1 left (lost: no heartbeat for 30s)" worker=w1
	`)
}

func TestCancelForAWorkerThatNeverRegisteredAbandonsTheExecution(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	rec := fx.Given(execution.StreamID("e1"), onWorker("e1")...)

	fx.When(canceler.New(fx.Store()).Handle, rec[5])

	fx.Then(`ExecutionStatusChanged execution=e1 from=canceling to=abandoned reason="cancel requested after worker w1 left (never registered)" worker=w1`)
}

func TestNothingToDo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		given func(fx *handlertest.Fixture) eventstore.Recorded // returns the event delivered
	}{
		{"worker alive: it reports the end itself", func(fx *handlertest.Fixture) eventstore.Recorded {
			fx.Given(worker.StreamID("w1"), registered)
			return fx.Given(execution.StreamID("e1"), onWorker("e1")...)[5]
		}},
		{"worker came back: it reports the end itself", func(fx *handlertest.Fixture) eventstore.Recorded {
			fx.Given(worker.StreamID("w1"), registered, lost, registered)
			return fx.Given(execution.StreamID("e1"), onWorker("e1")...)[5]
		}},
		{"already settled: a late delivery", func(fx *handlertest.Fixture) eventstore.Recorded {
			fx.Given(worker.StreamID("w1"), registered, lost)
			rec := fx.Given(execution.StreamID("e1"), onWorker("e1")...)
			fx.Given(execution.StreamID("e1"), change("e1", execution.Canceling, execution.Cancelled))
			return rec[5]
		}},
		{"workflow parent: no worker, the engine cascades the cancel", func(fx *handlertest.Fixture) eventstore.Recorded {
			return fx.Given(execution.StreamID("wf"),
				execution.ExecutionRequested{ExecutionID: "wf", Action: "examples.flow", RunnerType: "workflow"},
				change("wf", execution.Requested, execution.Running),
				change("wf", execution.Running, execution.Canceling),
			)[2]
		}},
		{"another transition", func(fx *handlertest.Fixture) eventstore.Recorded {
			fx.Given(worker.StreamID("w1"), registered, lost)
			return fx.Given(execution.StreamID("e1"), onWorker("e1")[:5]...)[4] // → running
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := handlertest.New(t)
			delivered := tc.given(fx)
			fx.WhenRedelivered(canceler.New(fx.Store()).Handle, delivered)
			fx.Then("")
		})
	}
}

// racingLog lets the worker's own report land between the handler's read and its append.
type racingLog struct {
	canceler.Log
	race func()
}

func (l racingLog) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	l.race()
	return l.Log.Append(ctx, stream, expected, events...)
}

func TestAWorkerReportThatLandsFirstWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := handlertest.New(t)
	fx.Given(worker.StreamID("w1"), registered, lost)
	canceling := fx.Given(execution.StreamID("e1"), onWorker("e1")...)[5]
	report := func() {
		completed, err := eventstore.NewProposed(change("e1", execution.Canceling, execution.Completed), event.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.Store().Append(ctx, execution.StreamID("e1"), eventstore.Any, completed); err != nil {
			t.Fatal(err)
		}
	}
	h := canceler.New(racingLog{Log: fx.Store(), race: report})

	// The append conflicts; the handler decides again on the stream as it is now and finds
	// the execution settled by the report.
	if err := fx.Deliver(h.Handle, canceling); err != nil {
		t.Fatalf("Handle during a race = %v, want the conflict decided again: nothing to do", err)
	}
	// A redelivery finds it settled too.
	if err := fx.Deliver(canceler.New(fx.Store()).Handle, canceling); err != nil {
		t.Fatalf("retry after the race: %v", err)
	}
	stream, err := fx.Store().ReadStream(ctx, execution.StreamID("e1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := handlertest.Summary(stream[len(stream)-1]); got != "ExecutionStatusChanged execution=e1 from=canceling to=completed" {
		t.Errorf("last event %q, want the worker's report and nothing after it", got)
	}
}
