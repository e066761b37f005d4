package retry_test

import (
	"context"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/retry"
	"github.com/attune-go/attune/projections/registry"
)

const (
	first = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"
	wfID  = "01JQ3V5E8G7ZKX2N4P6R8T0W30"
)

var (
	retry1 = policy.RetryID(ulid.MustParse(first), 1).String()
	retry2 = policy.RetryID(ulid.MustParse(retry1), 2).String()
)

func examples(enabled bool, on ...execution.Status) *pack.PackRegistered {
	return &pack.PackRegistered{Ref: "examples", Version: "1.0.0",
		Actions: []pack.Action{{Ref: "examples.flaky", Name: "flaky", RunnerType: pack.RunnerShell, EntryPoint: "flaky.sh"}},
		Policies: []pack.Policy{{Ref: "examples.again", Name: "again", Enabled: enabled, Action: "examples.flaky", Type: policy.Retry,
			Retry: &policy.RetrySpec{On: on, MaxRetries: 2, DelaySeconds: 5}}},
	}
}

type env struct {
	fx  *handlertest.Fixture
	reg *registry.Registry
	h   *retry.Handler
}

func setup(t *testing.T, p *pack.PackRegistered) *env {
	t.Helper()
	fx := handlertest.New(t)
	reg := registry.New(registry.Config{})
	if p != nil {
		fx.Given(pack.StreamID(p.Ref), p)
	}
	return &env{fx: fx, reg: reg, h: retry.New(retry.Config{Log: fx.Store(), Catalog: reg, Now: fx.Now})}
}

// catchUp brings the registry up to the end of the log.
func (e *env) catchUp(t *testing.T) {
	t.Helper()
	all, err := e.fx.Store().ReadAll(context.Background(), e.reg.Position(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Apply(all...)
}

func change(id string, from, to execution.Status) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
}

// ran is the life of an execution of examples.flaky that ends in end.
func ran(req execution.ExecutionRequested, end execution.Status) []event.Event {
	id := req.ExecutionID
	return []event.Event{req,
		change(id, execution.Requested, execution.Scheduling),
		execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w1", Runtime: "shell"},
		change(id, execution.Scheduling, execution.Scheduled),
		change(id, execution.Scheduled, execution.Running),
		change(id, execution.Running, end),
	}
}

func request(id string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "examples.flaky", RunnerType: "shell",
		Parameters: []byte(`{"n":1}`), Rule: "examples.on_ping", TimeoutSeconds: 9}
}

func TestAFailureSchedulesARetryOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Failed, execution.Timeout))
	rec := e.fx.Given(execution.StreamID(first), ran(request(first), execution.Failed)...)
	e.catchUp(t)

	// Every status change, twice, shuffled: only the terminal one counts, once.
	e.fx.WhenRedelivered(e.h.Schedule, rec[1], rec[3], rec[4], rec[5])

	e.fx.Then(`ExecutionRetryScheduled execution=` + first + ` retry_execution=` + retry1 +
		` policy=examples.again attempt=1 reason="ended failed: retry 1 of 2 by policy examples.again" not_before=2026-01-02T03:04:10Z`)
}

func TestARetryThatFailsIsRetriedWithTheNextAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Timeout))
	req := request(retry1)
	req.RetryOf, req.RetryAttempt = first, 1
	rec := e.fx.Given(execution.StreamID(retry1), ran(req, execution.Timeout)...)
	e.catchUp(t)

	e.fx.WhenRedelivered(e.h.Schedule, rec[5])

	e.fx.Then(`ExecutionRetryScheduled execution=` + retry1 + ` retry_execution=` + retry2 +
		` policy=examples.again attempt=2 reason="ended timeout: retry 2 of 2 by policy examples.again" not_before=2026-01-02T03:04:10Z`)
}

func TestNothingToSchedule(t *testing.T) {
	t.Parallel()
	exhausted := request(retry2)
	exhausted.RetryOf, exhausted.RetryAttempt = retry1, 2
	task := request(first)
	task.ParentID, task.WorkflowTask = wfID, "flaky"
	cases := []struct {
		name string
		pack *pack.PackRegistered
		req  execution.ExecutionRequested
		end  execution.Status
		more []event.Event
	}{
		{"completed", examples(true, execution.Failed), request(first), execution.Completed, nil},
		{"status not in on", examples(true, execution.Timeout), request(first), execution.Failed, nil},
		{"policy disabled", examples(false, execution.Failed), request(first), execution.Failed, nil},
		{"no policy", nil, request(first), execution.Failed, nil},
		{"chain used up", examples(true, execution.Failed), exhausted, execution.Failed, nil},
		{"workflow task keeps the workflow's retry", examples(true, execution.Failed), task, execution.Failed, nil},
		{"abandoned after a cancel", examples(true, execution.Abandoned), request(first), execution.Canceling, []event.Event{
			change(first, execution.Canceling, execution.Abandoned)}},
		{"retried already", examples(true, execution.Failed), request(first), execution.Failed, []event.Event{
			policy.ExecutionRetryScheduled{ExecutionID: first, RetryExecutionID: retry1, Policy: "examples.again", Attempt: 1, Reason: "earlier"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, c.pack)
			rec := e.fx.Given(execution.StreamID(c.req.ExecutionID), append(ran(c.req, c.end), c.more...)...)
			e.catchUp(t)
			e.fx.WhenRedelivered(e.h.Schedule, rec[5:]...)
			e.fx.Then("")
		})
	}
}

func TestAScheduledRetryIsRequestedOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Failed))
	e.fx.Given(execution.StreamID(first), ran(request(first), execution.Failed)...)
	rec := e.fx.Given(execution.StreamID(first), policy.ExecutionRetryScheduled{ExecutionID: first, RetryExecutionID: retry1,
		Policy: "examples.again", Attempt: 1, Reason: "ended failed", NotBefore: e.fx.Now().Add(5e9)})

	// As after a crash between the decision and the request: the decision's delivery
	// completes it, however often it comes.
	e.fx.WhenRedelivered(e.h.Request, rec[0])

	e.fx.Then(`ExecutionRequested execution=` + retry1 + ` action=examples.flaky runner_type=shell parameters={"n":1} rule=examples.on_ping retry_of=` + first +
		` retry_attempt=1 not_before=2026-01-02T03:04:10Z timeout=9`)
}

func TestARetryAlreadyRequestedIsLeftAlone(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Failed))
	e.fx.Given(execution.StreamID(first), ran(request(first), execution.Failed)...)
	rec := e.fx.Given(execution.StreamID(first), policy.ExecutionRetryScheduled{ExecutionID: first, RetryExecutionID: retry1,
		Policy: "examples.again", Attempt: 1, Reason: "ended failed"})
	req := request(retry1)
	req.RetryOf, req.RetryAttempt = first, 1
	e.fx.Given(execution.StreamID(retry1), req)

	e.fx.WhenRedelivered(e.h.Request, rec[0])
	e.fx.Then("")
}

// racing appends the retry's request just before the handler's own append, as a second
// engine handling the same decision would.
type racing struct {
	retry.Log
	fx *handlertest.Fixture
}

func (r racing) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if _, err := r.Log.Append(ctx, stream, eventstore.NoStream, events...); err != nil {
		return eventstore.AppendResult{}, err
	}
	return r.Log.Append(ctx, stream, expected, events...)
}

func TestARequestThatLosesTheRaceIsANoOp(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Failed))
	e.fx.Given(execution.StreamID(first), ran(request(first), execution.Failed)...)
	rec := e.fx.Given(execution.StreamID(first), policy.ExecutionRetryScheduled{ExecutionID: first, RetryExecutionID: retry1,
		Policy: "examples.again", Attempt: 1, Reason: "ended failed"})
	h := retry.New(retry.Config{Log: racing{Log: e.fx.Store(), fx: e.fx}, Catalog: e.reg, Now: e.fx.Now})

	if err := e.fx.Deliver(h.Request, rec[0]); err != nil {
		t.Fatalf("a request someone else made first failed the delivery: %v", err)
	}
	e.fx.Then(`ExecutionRequested execution=` + retry1 + ` action=examples.flaky runner_type=shell parameters={"n":1} rule=examples.on_ping retry_of=` + first +
		` retry_attempt=1 timeout=9`)
}

// deciding appends the same decision just before the handler's own append, as a second
// engine handling the same failure would.
type deciding struct {
	retry.Log
	once bool
}

func (d *deciding) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if !d.once {
		d.once = true
		if _, err := d.Log.Append(ctx, stream, expected, events...); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return d.Log.Append(ctx, stream, expected, events...)
}

func TestTwoEnginesDecideOneRetry(t *testing.T) {
	t.Parallel()
	e := setup(t, examples(true, execution.Failed))
	rec := e.fx.Given(execution.StreamID(first), ran(request(first), execution.Failed)...)
	e.catchUp(t)
	h := retry.New(retry.Config{Log: &deciding{Log: e.fx.Store()}, Catalog: e.reg, Now: e.fx.Now})

	// The losing append conflicts; the handler decides again on the stream and finds the
	// other engine's decision: nothing more to append.
	if err := e.fx.Deliver(h.Schedule, rec[5]); err != nil {
		t.Fatalf("the losing engine: %v, want its conflict decided again: nothing to do", err)
	}
	// A redelivery finds the decision made too.
	if err := e.fx.Deliver(h.Schedule, rec[5]); err != nil {
		t.Fatal(err)
	}
	e.fx.Then(`ExecutionRetryScheduled execution=` + first + ` retry_execution=` + retry1 +
		` policy=examples.again attempt=1 reason="ended failed: retry 1 of 2 by policy examples.again" not_before=2026-01-02T03:04:10Z`)
}
