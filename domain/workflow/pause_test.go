package workflow_test

import (
	"errors"
	"testing"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// fold folds events into the parent execution and the workflow state.
func foldBoth(t *testing.T, events []event.Event) (*execution.Execution, *workflow.State) {
	t.Helper()
	x, err := execution.FromEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	s, err := workflow.FromEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	return x, s
}

// started is a running workflow with task fetch in flight.
func started() []event.Event {
	return []event.Event{
		execution.ExecutionRequested{ExecutionID: wf, Action: "examples.deploy"},
		execution.ExecutionStatusChanged{ExecutionID: wf, From: execution.Requested, To: execution.Running},
		workflow.WorkflowStarted{ExecutionID: wf, Action: "examples.deploy", Definition: raw(`{}`)},
		workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Action: "core.http"},
	}
}

func TestAPauseHoldsTheWorkflowAndItsStatusFollowsWhatIsInFlight(t *testing.T) {
	t.Parallel()
	events := started()
	x, s := foldBoth(t, events)
	decided, err := s.Pause(x, "paused by alice")
	if err != nil || len(decided) != 2 {
		t.Fatalf("pause decided %v, %v", decided, err)
	}
	if ch := decided[1].(execution.ExecutionStatusChanged); ch.To != execution.Pausing {
		t.Fatalf("pause with fetch in flight goes %s, want pausing", ch.To)
	}
	events = append(events, decided...)
	events = append(events,
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Status: execution.Completed},
		workflow.WorkflowTaskTransitioned{ExecutionID: wf, Task: "fetch", Status: execution.Completed, Next: []string{"notify"}},
	)
	// Dispatching while held is refused by the fold; held is what the engine records.
	if _, err := workflow.FromEvents(append(events, workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "notify", Attempt: 1, ChildExecutionID: child(2), Action: "x.y"})); err == nil {
		t.Error("a run dispatched while the workflow is held folded")
	}
	events = append(events, workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "notify", Attempt: 1, ChildExecutionID: child(2), Action: "x.y", Held: true})
	x, s = foldBoth(t, events)
	ch, ok, err := s.Steer(x)
	if err != nil || !ok || ch.To != execution.Paused {
		t.Fatalf("steer once nothing is in flight: %+v %v %v, want paused", ch, ok, err)
	}
	events = append(events, ch)
	x, s = foldBoth(t, events)
	if again, err := s.Pause(x, "paused by bob"); err != nil || len(again) != 0 {
		t.Errorf("a second pause decided %v, %v; want nothing", again, err)
	}
	resumed, err := s.Resume(x, "resumed by alice")
	if err != nil || len(resumed) != 2 || resumed[1].(execution.ExecutionStatusChanged).To != execution.Running {
		t.Fatalf("resume decided %v, %v", resumed, err)
	}
	_, s = foldBoth(t, append(events, resumed...))
	if held := s.Held(); len(held) != 0 || s.Holding() {
		t.Errorf("after the resume: holding %t, held %v; want the run released", s.Holding(), held)
	}
}

func TestAWaitingChildHoldsTheWorkflowUntilItEnds(t *testing.T) {
	t.Parallel()
	events := append(started(), workflow.WorkflowTaskWaiting{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Status: execution.Pending})
	x, s := foldBoth(t, events)
	ch, ok, _ := s.Steer(x)
	if !ok || ch.To != execution.Paused {
		t.Fatalf("steer with its only run pending: %+v, want paused", ch)
	}
	x, s = foldBoth(t, append(events, ch))
	var r *workflow.Refusal
	if _, err := s.Resume(x, "resumed by alice"); !errors.As(err, &r) || r.Code != workflow.CodeWaitingForAnswer {
		t.Errorf("resume while the inquiry waits: %v, want %s", err, workflow.CodeWaitingForAnswer)
	}
	events = append(events, ch,
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Status: execution.Completed, Result: raw(`{"ok":true}`)})
	x, s = foldBoth(t, events)
	if ch, ok, _ := s.Steer(x); !ok || ch.To != execution.Running {
		t.Errorf("steer once the answer came: %+v, want running", ch)
	}
}

func TestPauseIsRefusedWhereItMeansNothing(t *testing.T) {
	t.Parallel()
	var r *workflow.Refusal
	action := []event.Event{execution.ExecutionRequested{ExecutionID: wf, Action: "core.echo"}}
	x, s := foldBoth(t, action)
	if _, err := s.Pause(x, ""); !errors.As(err, &r) || r.Code != workflow.CodeNotAWorkflow {
		t.Errorf("pause of an action: %v", err)
	}
	x, s = foldBoth(t, started())
	if _, err := s.Resume(x, ""); !errors.As(err, &r) || r.Code != workflow.CodeNotPaused {
		t.Errorf("resume of a running workflow: %v", err)
	}
	canceling := append(started(), execution.ExecutionStatusChanged{ExecutionID: wf, From: execution.Running, To: execution.Canceling})
	x, s = foldBoth(t, canceling)
	if _, err := s.Pause(x, ""); !errors.As(err, &r) || r.Code != workflow.CodeNotRunning {
		t.Errorf("pause of a canceling workflow: %v", err)
	}
}
