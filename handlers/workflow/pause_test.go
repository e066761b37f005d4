package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/cancel"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/pause"
)

// ender decides what becomes of a child action's request: ok false leaves it requested (it
// "runs" until the test ends it).
type ender func(req *execution.ExecutionRequested) (status execution.Status, result string, ok bool)

func leave(*execution.ExecutionRequested) (execution.Status, string, bool) { return "", "", false }

func echoAll(req *execution.ExecutionRequested) (execution.Status, string, bool) {
	return execution.Completed, string(req.Parameters), true
}

// pump delivers every event appended after *after to every engine handler, twice and
// shuffled, until the log settles; children of action tasks are ended as end says
// (workflow children are left to the engine).
func (b *bundle) pump(t *testing.T, after *eventstore.Position, end ender) {
	t.Helper()
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(3, 4))
	en := b.engine
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatal("the log did not settle in 1000 rounds")
		}
		batch, err := b.fx.Store().ReadAll(ctx, *after, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			return
		}
		*after = batch[len(batch)-1].Position
		deliveries := append(append([]eventstore.Recorded(nil), batch...), batch...)
		rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		for _, e := range deliveries {
			for _, h := range []func(context.Context, eventstore.Recorded) error{en.Start, en.Advance, en.Paused, en.Resumed} {
				if err := b.fx.Deliver(h, e); err != nil {
					t.Fatalf("deliver %s: %v", handlertest.Summary(e), err)
				}
			}
		}
		for _, e := range batch {
			payload, err := e.Decode()
			if err != nil {
				t.Fatal(err)
			}
			req, ok := payload.(*execution.ExecutionRequested)
			if !ok || req.ParentID == "" || req.RunnerType == string(pack.RunnerWorkflow) || b.status(t, req.ExecutionID) != execution.Requested {
				continue
			}
			if status, result, ok := end(req); ok {
				b.finish(t, e, req.ExecutionID, status, result)
			}
		}
	}
}

// status folds an execution's stream.
func (b *bundle) status(t *testing.T, id string) execution.Status {
	t.Helper()
	x := b.fold(t, id)
	if x == nil {
		return ""
	}
	return x.Status()
}

func (b *bundle) fold(t *testing.T, id string) *execution.Execution {
	t.Helper()
	recorded, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) == 0 {
		return nil
	}
	var events []event.Event
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// childOf is the id of the child requested for task, "" when none was.
func (b *bundle) childOf(t *testing.T, parent, task string) string {
	t.Helper()
	all, err := b.fx.Store().ReadAll(t.Context(), eventstore.Position{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		e, _ := r.Decode()
		if req, ok := e.(*execution.ExecutionRequested); ok && req.ParentID == parent && req.WorkflowTask == task {
			return req.ExecutionID
		}
	}
	return ""
}

// to appends status changes to an execution, as its worker (or the inquiry handler) would.
func (b *bundle) to(t *testing.T, id string, result string, path ...execution.Status) {
	t.Helper()
	x := b.fold(t, id)
	from := x.Status()
	var ps []eventstore.Proposed
	for i, st := range path {
		ch := execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: st}
		if i == len(path)-1 && result != "" {
			ch.Result = json.RawMessage(result)
		}
		p, err := eventstore.NewProposed(ch, event.Metadata{Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		from = st
	}
	if _, err := b.fx.Store().Append(t.Context(), execution.StreamID(id), eventstore.Exact(x.Version()), ps...); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) request(t *testing.T, params string) *eventstore.Position {
	t.Helper()
	b.fx.Given(execution.StreamID(parentID), execution.ExecutionRequested{
		ExecutionID: parentID, Action: "ex.wf", RunnerType: string(pack.RunnerWorkflow), Parameters: json.RawMessage(params),
	})
	after := eventstore.Position{} // the request is the log's first event: deliver it too
	return &after
}

const chain = `{
  "tasks": {
    "a": {"action": "ex.echo", "input": {"n": 1}, "next": [{"do": "b"}]},
    "b": {"action": "ex.echo", "input": {"n": 2}, "next": [{"do": "c"}]},
    "c": {"action": "ex.echo", "input": {"n": 3}}
  },
  "output": {"c": "{{ task.c.result.n }}"}
}`

// pausedAfterA is chain paused by alice while a ran: a has ended since, b is held.
func pausedAfterA(t *testing.T, b *bundle) *eventstore.Position {
	t.Helper()
	after := b.request(t, `{}`)
	b.pump(t, after, leave)
	a := b.childOf(t, parentID, "a")
	if a == "" {
		t.Fatal("task a was not requested")
	}
	got, err := pause.Pause(t.Context(), b.fx.Store(), parentID, "alice")
	if err != nil || got != execution.Pausing {
		t.Fatalf("pause: %s, %v; want pausing (a runs)", got, err)
	}
	b.pump(t, after, leave)
	b.to(t, a, `{"n":1}`, execution.Scheduling, execution.Scheduled, execution.Running, execution.Completed)
	b.pump(t, after, leave)
	return after
}

func TestAPausedWorkflowLetsItsRunningTaskFinishAndDispatchesNothingUntilResumed(t *testing.T) {
	t.Parallel()
	b := setup(t, chain)
	after := pausedAfterA(t, b)
	if st := b.status(t, parentID); st != execution.Paused {
		t.Fatalf("parent is %s once a ended, want paused", st)
	}
	if c := b.childOf(t, parentID, "b"); c != "" {
		t.Fatalf("task b was requested (%s) while the workflow was paused", c)
	}
	if _, err := pause.Pause(t.Context(), b.fx.Store(), parentID, "bob"); err != nil {
		t.Fatalf("a second pause: %v, want a no-op", err)
	}
	got, err := pause.Resume(t.Context(), b.fx.Store(), parentID, "alice")
	if err != nil || got != execution.Running {
		t.Fatalf("resume: %s, %v; want running", got, err)
	}
	b.pump(t, after, echoAll)
	same(t, b.parentScript(t, eventstore.Position{}), `
		ExecutionRequested action=ex.wf runner_type=workflow
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowStarted input={}
		WorkflowTaskScheduled task=a attempt=1 action=ex.echo input={"n":1}
		WorkflowPaused reason="paused by alice"
		ExecutionStatusChanged from=running to=pausing reason="paused by alice; 1 task run(s) still in flight"
		WorkflowTaskCompleted task=a attempt=1 status=completed result={"n":1}
		WorkflowTaskTransitioned task=a status=completed next=["b"]
		WorkflowTaskScheduled task=b attempt=1 action=ex.echo input={"n":2} held=true
		ExecutionStatusChanged from=pausing to=paused reason="paused by alice"
		WorkflowResumed reason="resumed by alice"
		ExecutionStatusChanged from=paused to=running reason="resumed: nothing holds it any more"
		WorkflowTaskCompleted task=b attempt=1 status=completed result={"n":2}
		WorkflowTaskTransitioned task=b status=completed next=["c"]
		WorkflowTaskScheduled task=c attempt=1 action=ex.echo input={"n":3}
		WorkflowTaskCompleted task=c attempt=1 status=completed result={"n":3}
		WorkflowTaskTransitioned task=c status=completed
		WorkflowCompleted status=completed output={"c":3}
		ExecutionStatusChanged from=running to=completed result={"c":3}
	`)
	if n := len(b.children(t)); n != 3 {
		t.Errorf("%d children requested, want 3", n)
	}
}

func TestPauseAndResumeAreRefusedWhereTheyMeanNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, chain)
	after := b.request(t, `{}`)
	b.pump(t, after, leave)
	refusal := func(err error) string {
		var r *wf.Refusal
		if !errors.As(err, &r) {
			t.Fatalf("err = %v, want a refusal", err)
		}
		return r.Code
	}
	if _, err := pause.Resume(t.Context(), b.fx.Store(), parentID, "alice"); refusal(err) != wf.CodeNotPaused {
		t.Errorf("resume of a running workflow: %v", err)
	}
	a := b.childOf(t, parentID, "a")
	if _, err := pause.Pause(t.Context(), b.fx.Store(), a, "alice"); refusal(err) != wf.CodeNotAWorkflow {
		t.Errorf("pause of an action's execution: %v", err)
	}
	b.pump(t, after, echoAll)
	b.to(t, a, `{"n":1}`, execution.Scheduling, execution.Scheduled, execution.Running, execution.Completed)
	b.pump(t, after, echoAll)
	if st := b.status(t, parentID); st != execution.Completed {
		t.Fatalf("parent %s, want completed", st)
	}
	if _, err := pause.Pause(t.Context(), b.fx.Store(), parentID, "alice"); refusal(err) != wf.CodeNotRunning {
		t.Errorf("pause of an ended workflow: %v", err)
	}
	if _, err := pause.Pause(t.Context(), b.fx.Store(), "01JD0000000000000000000099", "alice"); !errors.Is(err, pause.ErrNotFound) {
		t.Errorf("pause of nothing: %v", err)
	}
}

func TestCancellingAPausedWorkflowCancelsItsHeldTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, chain)
	after := pausedAfterA(t, b)
	got, err := cancel.Cancel(t.Context(), b.fx.Store(), parentID, "carol")
	if err != nil || got != execution.Canceling {
		t.Fatalf("cancel: %s, %v", got, err)
	}
	b.pump(t, after, echoAll)
	if st := b.status(t, parentID); st != execution.Cancelled {
		t.Fatalf("parent %s, want cancelled", st)
	}
	held := b.childOf(t, parentID, "b")
	if st := b.status(t, held); st != execution.Cancelled {
		t.Errorf("held task b's child is %q, want written cancelled", st)
	}
	if c := b.childOf(t, parentID, "c"); c != "" {
		t.Errorf("task c ran after the cancel")
	}
}

const ask = `{
  "tasks": {
    "approve": {"action": "ex.ask", "next": [
      {"when": "{{ succeeded() and result().approved }}", "publish": {"who": "{{ result().by }}"}, "do": "yes"},
      {"when": "{{ succeeded() and not result().approved }}", "do": "no"},
      {"when": "{{ timed_out() }}", "do": "no"}]},
    "yes": {"action": "ex.echo", "input": {"ok": "{{ vars.who }}"}},
    "no": {"action": "ex.echo", "input": {"ok": false}}
  },
  "output": {"yes": "{{ task.yes.result.ok ?? false }}"}
}`

var askAction = pack.Action{Ref: "ex.ask", RunnerType: pack.RunnerBuiltin}

func TestAWorkflowIsPausedWhileItsInquiryWaitsAndTheAnswerDrivesItOn(t *testing.T) {
	t.Parallel()
	b := setup(t, ask, askAction)
	after := b.request(t, `{}`)
	b.pump(t, after, leave)
	inquiry := b.childOf(t, parentID, "approve")
	b.to(t, inquiry, "", execution.Pending)
	b.pump(t, after, leave)
	if st := b.status(t, parentID); st != execution.Paused {
		t.Fatalf("parent %s while its inquiry waits, want paused", st)
	}
	var r *wf.Refusal
	if _, err := pause.Resume(t.Context(), b.fx.Store(), parentID, "alice"); !errors.As(err, &r) || r.Code != wf.CodeWaitingForAnswer {
		t.Errorf("resume while the inquiry waits: %v, want %s", err, wf.CodeWaitingForAnswer)
	}
	b.to(t, inquiry, `{"approved":true,"by":"dave"}`, execution.Completed)
	b.pump(t, after, echoAll)
	got := b.parentScript(t, eventstore.Position{})
	for _, want := range []string{
		`WorkflowTaskWaiting task=approve attempt=1 status=pending`,
		`ExecutionStatusChanged from=running to=paused reason="task approve waits for an answer (execution ` + inquiry + `)"`,
		`ExecutionStatusChanged from=paused to=running reason="resumed: nothing holds it any more"`,
		`WorkflowTaskScheduled task=yes attempt=1 action=ex.echo input={"ok":"dave"}`,
		`ExecutionStatusChanged from=running to=completed result={"yes":"dave"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("parent stream lacks %q:\n%s", want, got)
		}
	}
}

func TestAnInquiryTimeoutTakesItsBranch(t *testing.T) {
	t.Parallel()
	b := setup(t, ask, askAction)
	after := b.request(t, `{}`)
	b.pump(t, after, leave)
	inquiry := b.childOf(t, parentID, "approve")
	b.to(t, inquiry, "", execution.Pending)
	b.pump(t, after, leave)
	b.to(t, inquiry, "", execution.Timeout)
	b.pump(t, after, echoAll)
	if st := b.status(t, parentID); st != execution.Completed {
		t.Fatalf("parent %s, want completed by its timed_out() branch", st)
	}
	if b.childOf(t, parentID, "no") == "" || b.childOf(t, parentID, "yes") != "" {
		t.Error("the timeout did not take the no branch")
	}
}

func TestAnInquiryBesideARunningBranchPausesOnceTheBranchEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "init": {"action": "ex.echo", "next": [{"do": ["approve", "slow"]}]},
	    "approve": {"action": "ex.ask"},
	    "slow": {"action": "ex.echo", "next": [{"do": "after"}]},
	    "after": {"action": "ex.echo"}
	  }
	}`, askAction)
	after := b.request(t, `{}`)
	b.pump(t, after, func(req *execution.ExecutionRequested) (execution.Status, string, bool) {
		if req.WorkflowTask == "init" {
			return execution.Completed, `{}`, true
		}
		return "", "", false
	})
	inquiry, slow := b.childOf(t, parentID, "approve"), b.childOf(t, parentID, "slow")
	b.to(t, inquiry, "", execution.Pending)
	b.pump(t, after, leave)
	if st := b.status(t, parentID); st != execution.Pausing {
		t.Fatalf("parent %s while slow runs, want pausing", st)
	}
	b.to(t, slow, `{}`, execution.Scheduling, execution.Scheduled, execution.Running, execution.Completed)
	b.pump(t, after, leave)
	if st := b.status(t, parentID); st != execution.Paused {
		t.Fatalf("parent %s once slow ended, want paused", st)
	}
	if c := b.childOf(t, parentID, "after"); c != "" {
		t.Fatal("after was requested while the inquiry waits")
	}
	b.to(t, inquiry, `{"approved":true}`, execution.Completed)
	b.pump(t, after, echoAll)
	if st := b.status(t, parentID); st != execution.Completed {
		t.Fatalf("parent %s, want completed", st)
	}
	if b.childOf(t, parentID, "after") == "" {
		t.Error("the held task after never ran")
	}
}

func TestPausingAWorkflowPausesItsSubWorkflowsAndResumingResumesThem(t *testing.T) {
	t.Parallel()
	sub := pack.Action{Ref: "ex.sub", RunnerType: pack.RunnerWorkflow, Workflow: json.RawMessage(`{
	  "tasks": {
	    "x": {"action": "ex.echo", "next": [{"do": "y"}]},
	    "y": {"action": "ex.echo"}
	  }
	}`)}
	b := setup(t, `{
	  "tasks": {
	    "s": {"action": "ex.sub", "next": [{"do": "z"}]},
	    "z": {"action": "ex.echo"}
	  }
	}`, sub)
	after := b.request(t, `{}`)
	b.pump(t, after, leave)
	s := b.childOf(t, parentID, "s")
	x := b.childOf(t, s, "x")
	if x == "" {
		t.Fatal("the sub-workflow did not start")
	}
	if _, err := pause.Pause(t.Context(), b.fx.Store(), parentID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.pump(t, after, leave)
	if st := b.status(t, s); st != execution.Pausing {
		t.Fatalf("sub-workflow %s, want pausing (x runs)", st)
	}
	b.to(t, x, `{}`, execution.Scheduling, execution.Scheduled, execution.Running, execution.Completed)
	b.pump(t, after, leave)
	for id, want := range map[string]execution.Status{s: execution.Paused, parentID: execution.Paused} {
		if st := b.status(t, id); st != want {
			t.Errorf("%s is %s, want %s", id, st, want)
		}
	}
	if b.childOf(t, s, "y") != "" {
		t.Fatal("y was requested in a paused sub-workflow")
	}
	if _, err := pause.Resume(t.Context(), b.fx.Store(), parentID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.pump(t, after, echoAll)
	for id, want := range map[string]execution.Status{s: execution.Completed, parentID: execution.Completed} {
		if st := b.status(t, id); st != want {
			t.Errorf("%s is %s, want %s", id, st, want)
		}
	}
}
