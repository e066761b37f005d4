package workflow_test

import (
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/handlertest"
)

// cancelMidJoin is midJoin's parent with branch a running on a worker and branch b never
// requested (a crash, or a request still on its way), when a cancel moves it to canceling.
func cancelMidJoin(b *bundle) (canceling eventstore.Recorded) {
	parentMidJoin(b)
	b.fx.Given(execution.StreamID("child-a"),
		execution.ExecutionRequested{ExecutionID: "child-a", Action: "ex.echo", ParentID: parentID, WorkflowTask: "a"},
		execution.ExecutionStatusChanged{ExecutionID: "child-a", From: execution.Requested, To: execution.Scheduling},
		execution.ExecutionScheduled{ExecutionID: "child-a", WorkerID: "w1", Runtime: "builtin"},
		execution.ExecutionStatusChanged{ExecutionID: "child-a", From: execution.Scheduling, To: execution.Scheduled},
		execution.ExecutionStatusChanged{ExecutionID: "child-a", From: execution.Scheduled, To: execution.Running},
	)
	return b.fx.Given(execution.StreamID(parentID),
		execution.ExecutionStatusChanged{ExecutionID: parentID, From: execution.Running, To: execution.Canceling, Reason: "cancel requested by alice"},
	)[0]
}

func TestCancellingAWorkflowCancelsEveryRunInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	canceling := cancelMidJoin(b)
	b.fx.WhenRedelivered(b.engine.Advance, canceling)
	// The running child is asked to stop (its worker reports how it ended); the one never
	// requested is written requested and cancelled at once. The parent waits for both; the
	// redelivery finds b ended and records its end itself, so the cancel never waits on a
	// message that may be lost.
	same(t, handlertest.Script(b.fx.Appended()), `
		ExecutionStatusChanged execution=child-a from=running to=canceling reason="cancel requested by handlertest" worker=w1 parent=`+parentID+`
		ExecutionRequested execution=child-b action=ex.echo runner_type=builtin parent=`+parentID+` workflow_task=b
		ExecutionStatusChanged execution=child-b from=requested to=cancelled reason="cancel requested by handlertest before the run was requested" parent=`+parentID+`
		WorkflowTaskCompleted execution=`+parentID+` task=b attempt=1 child_execution=child-b status=cancelled
	`)
}

func TestACancelledWorkflowEndsOnceItsRunsHaveEndedAndDispatchesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	canceling := cancelMidJoin(b)
	if err := b.fx.Deliver(b.engine.Advance, canceling); err != nil {
		t.Fatal(err)
	}
	cancelledB := b.fx.Appended()[2]
	// Branch a completes before its worker sees the cancel: its transition to the join must
	// not fire all the same.
	p, err := eventstore.NewProposed(execution.ExecutionStatusChanged{ExecutionID: "child-a", From: execution.Canceling, To: execution.Completed}, event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.fx.Store().Append(t.Context(), execution.StreamID("child-a"), eventstore.Exact(6), p); err != nil {
		t.Fatal(err)
	}
	childA, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID("child-a"))
	if err != nil {
		t.Fatal(err)
	}
	endA := childA[len(childA)-1]
	for _, e := range []eventstore.Recorded{cancelledB, endA, cancelledB, endA, canceling} {
		if err := b.fx.Deliver(b.engine.Advance, e); err != nil {
			t.Fatalf("deliver %s: %v", handlertest.Summary(e), err)
		}
	}
	parent, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(parentID))
	if err != nil {
		t.Fatal(err)
	}
	same(t, handlertest.Script(parent[canceling.StreamVersion:]), `
		WorkflowTaskCompleted execution=`+parentID+` task=b attempt=1 child_execution=child-b status=cancelled
		WorkflowTaskCompleted execution=`+parentID+` task=a attempt=1 child_execution=child-a status=completed
		WorkflowCompleted execution=`+parentID+` status=cancelled error="cancelled: no task is left in flight"
		ExecutionStatusChanged execution=`+parentID+` from=canceling to=cancelled reason="cancelled: no task is left in flight"
	`)
	if n := len(b.children(t)); n != 2 {
		t.Errorf("%d children requested, want 2 (a and b): the join must not run", n)
	}
}

// A cancel of a workflow whose children have all ended, though their ends were never
// recorded in the parent (their messages lost or still on their way), ends it cancelled at
// once: it never waits in canceling on messages that may not come.
func TestACancelOfAWorkflowWhoseChildrenAllEndedEndsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	midJoin(b) // a and b ended; the parent has not heard
	canceling := b.fx.Given(execution.StreamID(parentID),
		execution.ExecutionStatusChanged{ExecutionID: parentID, From: execution.Running, To: execution.Canceling, Reason: "cancel requested by alice"},
	)[0]
	b.fx.WhenRedelivered(b.engine.Advance, canceling)
	b.fx.ThenInAnyOrder(`
		WorkflowTaskCompleted execution=` + parentID + ` task=a attempt=1 child_execution=child-a status=completed
		WorkflowTaskCompleted execution=` + parentID + ` task=b attempt=1 child_execution=child-b status=completed
		WorkflowCompleted execution=` + parentID + ` status=cancelled error="cancelled: no task is left in flight"
		ExecutionStatusChanged execution=` + parentID + ` from=canceling to=cancelled reason="cancelled: no task is left in flight"
	`)
}
