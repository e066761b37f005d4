package decide_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/internal/decide"
)

const id = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"

var stream = execution.StreamID(id)

// counting is the in-memory log with its reads counted: what the path costs.
type counting struct {
	*memstore.Store
	reads atomic.Int64
}

func (c *counting) ReadStream(ctx context.Context, s string) ([]eventstore.Recorded, error) {
	c.reads.Add(1)
	return c.Store.ReadStream(ctx, s)
}

func setup(t *testing.T, history ...event.Event) *counting {
	t.Helper()
	log := &counting{Store: memstore.New(memstore.Config{})}
	if len(history) > 0 {
		write(t, log, eventstore.NoStream, history...)
	}
	return log
}

func write(t *testing.T, log decide.Log, expected eventstore.Expected, events ...event.Event) {
	t.Helper()
	proposed, err := decide.Propose(event.Metadata{Actor: "test"}, events...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(context.Background(), stream, expected, proposed...); err != nil {
		t.Fatal(err)
	}
}

func requested() execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.noop", RunnerType: "builtin"}
}

func change(from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// cancel is a decider: a cancel of whatever the execution is doing now.
func cancel(decided *[]execution.Status) decide.Decider[*execution.Execution] {
	return func(_ context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		*decided = append(*decided, f.State.Status())
		ch, ok, err := f.State.Cancel("cancel requested by test")
		if err != nil || !ok {
			return decide.Decision{}, err
		}
		return decide.Decision{Events: []event.Event{ch}, Metadata: f.Last.Metadata}, nil
	}
}

func statuses(t *testing.T, log decide.Log) []execution.Status {
	t.Helper()
	recorded, err := log.ReadStream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []execution.Status
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if ch, ok := e.(*execution.ExecutionStatusChanged); ok {
			out = append(out, ch.To)
		}
	}
	return out
}

func TestADecisionIsAppendedWithTheVersionItWasMadeOn(t *testing.T) {
	t.Parallel()
	log := setup(t, requested(), change(execution.Requested, execution.Scheduling))
	var decided []execution.Status
	res, err := decide.Executions(log).Run(context.Background(), stream, cancel(&decided))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Appended || res.Version != 3 || res.Attempts != 1 || log.reads.Load() != 1 {
		t.Errorf("result %+v after %d reads; want appended at version 3, one decision, one read", res, log.reads.Load())
	}
	if got := statuses(t, log); len(got) != 2 || got[1] != execution.Cancelled {
		t.Errorf("statuses %v; want scheduling, cancelled", got)
	}
}

func TestAConflictIsDecidedAgainOnTheStreamAsItIsNow(t *testing.T) {
	t.Parallel()
	log := setup(t, requested(), change(execution.Requested, execution.Scheduling))
	var decided []execution.Status
	inner := cancel(&decided)
	raced := false
	res, err := decide.Executions(log).Run(context.Background(), stream, func(ctx context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		if !raced {
			// Another writer gets in between this read and this append: the scheduler
			// places the execution and its worker starts it.
			raced = true
			write(t, log, eventstore.Exact(f.Version), change(execution.Scheduling, execution.Scheduled), change(execution.Scheduled, execution.Running))
		}
		return inner(ctx, f)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Conflicts != 1 || !res.Appended || log.reads.Load() != 2 {
		t.Errorf("result %+v after %d reads; want 2 decisions, 1 conflict, appended, 2 reads", res, log.reads.Load())
	}
	if want := []execution.Status{execution.Scheduling, execution.Running}; len(decided) != 2 || decided[0] != want[0] || decided[1] != want[1] {
		t.Errorf("decided on %v; want %v: the second decision sees the other writer's events", decided, want)
	}
	// Decided again, the cancel of a running execution asks its worker to stop (canceling)
	// instead of cancelling what was not started: the first decision was never appended.
	got := statuses(t, log)
	if want := []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running, execution.Canceling}; len(got) != len(want) || got[3] != execution.Canceling {
		t.Errorf("statuses %v; want %v", got, want)
	}
}

func TestConflictsInARowEndAfterTheBoundWithTheConflict(t *testing.T) {
	t.Parallel()
	log := setup(t, requested())
	loop := decide.Executions(log)
	loop.Attempts = 3
	calls := 0
	res, err := loop.Run(context.Background(), stream, func(_ context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		calls++
		// Every time, someone else appends first (an event of another aggregate sharing the
		// stream, which moves its version on).
		write(t, log, eventstore.Exact(f.Version), execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w1", Runtime: "builtin"})
		ch, err := f.State.Transition(execution.Scheduling, execution.Outcome{})
		return decide.Decision{Events: []event.Event{ch}}, err
	})
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || errors.Is(err, bus.ErrPermanent) {
		t.Fatalf("err = %v; want the *VersionConflictError, not marked permanent (the bus retries it)", err)
	}
	if calls != 3 || res.Attempts != 3 || res.Conflicts != 3 || res.Appended {
		t.Errorf("%d decisions, result %+v; want exactly 3 decisions, 3 conflicts, nothing appended", calls, res)
	}
}

func TestAStreamThatCannotBeFoldedIsPermanent(t *testing.T) {
	t.Parallel()
	// completed → running: a history the domain refuses.
	log := setup(t, requested(), change(execution.Requested, execution.Completed), change(execution.Completed, execution.Running))
	called := false
	_, err := decide.Executions(log).Run(context.Background(), stream, func(context.Context, decide.Folded[*execution.Execution]) (decide.Decision, error) {
		called = true
		return decide.Decision{}, nil
	})
	if !errors.Is(err, bus.ErrPermanent) || called {
		t.Fatalf("err = %v, decider called %v; want a permanent error before any decision", err, called)
	}
}

func TestAnUnknownStreamIsErrNoStreamAndNotPermanent(t *testing.T) {
	t.Parallel()
	log := setup(t)
	_, err := decide.Executions(log).Run(context.Background(), stream, func(context.Context, decide.Folded[*execution.Execution]) (decide.Decision, error) {
		t.Error("decided on a stream that does not exist")
		return decide.Decision{}, nil
	})
	if !errors.Is(err, decide.ErrNoStream) || errors.Is(err, bus.ErrPermanent) {
		t.Fatalf("err = %v; want ErrNoStream, not permanent", err)
	}
}

func TestTheDecidersErrorIsReturnedAsItIs(t *testing.T) {
	t.Parallel()
	log := setup(t, requested())
	refused := bus.Permanent(errors.New("refused"))
	transient := errors.New("catalogue not ready")
	for _, want := range []error{refused, transient} {
		_, err := decide.Executions(log).Run(context.Background(), stream, func(context.Context, decide.Folded[*execution.Execution]) (decide.Decision, error) {
			return decide.Decision{}, want
		})
		if err != want {
			t.Errorf("err = %v; want %v unchanged", err, want)
		}
	}
	if got := statuses(t, log); len(got) != 0 {
		t.Errorf("appended %v after a refusal", got)
	}
}

func TestRunFromAKnownFoldReadsOnlyAfterAConflict(t *testing.T) {
	t.Parallel()
	log := setup(t, requested(), change(execution.Requested, execution.Scheduling))
	loop := decide.Executions(log)
	known, err := loop.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var decided []execution.Status
	res, err := loop.RunFrom(context.Background(), stream, known, cancel(&decided))
	if err != nil || !res.Appended || log.reads.Load() != 1 {
		t.Fatalf("RunFrom = %+v, %v after %d reads; want appended with no read beyond Load's", res, err, log.reads.Load())
	}

	// A fold that is out of date conflicts, and the loop reads the stream and decides again.
	stale := known
	decided = nil
	res, err = loop.RunFrom(context.Background(), stream, stale, cancel(&decided))
	if err != nil || res.Conflicts != 1 || res.Appended || log.reads.Load() != 2 {
		t.Fatalf("RunFrom stale = %+v, %v after %d reads; want a conflict, a read, and nothing to do (cancelled already)", res, err, log.reads.Load())
	}
	if len(decided) != 2 || decided[1] != execution.Cancelled {
		t.Errorf("decided on %v; want scheduling (stale), then cancelled", decided)
	}
}
