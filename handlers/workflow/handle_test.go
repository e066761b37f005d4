package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/workflow"
)

const joinDefinition = `{"tasks": {
  "init": {"action": "ex.echo", "next": [{"do": ["a", "b"]}]},
  "a": {"action": "ex.echo", "next": [{"do": "c"}]},
  "b": {"action": "ex.echo", "next": [{"do": "c"}]},
  "c": {"join": "all", "action": "ex.echo"}}}`

// midJoin is a parent stream whose branches a and b are both in flight, and their children
// ended: the state in which two completions race for the join.
func midJoin(b *bundle) (parent []eventstore.Recorded, a, c eventstore.Recorded) {
	parent = parentMidJoin(b)
	end := func(child string) eventstore.Recorded {
		rec := b.fx.Given(execution.StreamID(child),
			execution.ExecutionRequested{ExecutionID: child, Action: "ex.echo", ParentID: parentID, WorkflowTask: child[len("child-"):]},
			execution.ExecutionStatusChanged{ExecutionID: child, From: execution.Requested, To: execution.Scheduling},
			execution.ExecutionStatusChanged{ExecutionID: child, From: execution.Scheduling, To: execution.Scheduled},
			execution.ExecutionStatusChanged{ExecutionID: child, From: execution.Scheduled, To: execution.Running},
			execution.ExecutionStatusChanged{ExecutionID: child, From: execution.Running, To: execution.Completed},
		)
		return rec[4]
	}
	return parent, end("child-a"), end("child-b")
}

// parentMidJoin is the parent stream of midJoin alone, as a crash right after the decision
// that scheduled a and b leaves it: their children were never requested.
func parentMidJoin(b *bundle) []eventstore.Recorded {
	requested := execution.ExecutionRequested{ExecutionID: parentID, Action: "ex.wf", RunnerType: string(pack.RunnerWorkflow)}
	run := func(task, child string) wf.WorkflowTaskScheduled {
		return wf.WorkflowTaskScheduled{ExecutionID: parentID, Task: task, Attempt: 1, ChildExecutionID: child, Action: "ex.echo"}
	}
	return b.fx.Given(execution.StreamID(parentID),
		requested,
		execution.ExecutionStatusChanged{ExecutionID: parentID, From: execution.Requested, To: execution.Running},
		wf.WorkflowStarted{ExecutionID: parentID, Action: "ex.wf", Definition: json.RawMessage(joinDefinition)},
		run("init", "child-init"),
		wf.WorkflowTaskCompleted{ExecutionID: parentID, Task: "init", Attempt: 1, ChildExecutionID: "child-init", Status: execution.Completed},
		wf.WorkflowTaskTransitioned{ExecutionID: parentID, Task: "init", Status: execution.Completed, Next: []string{"a", "b"}},
		run("a", "child-a"),
		run("b", "child-b"),
	)
}

func TestConcurrentCompletionsDispatchTheJoinOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	_, a, bEnd := midJoin(b)
	b.fx.WhenRedelivered(b.engine.Advance, a, bEnd)
	// Which completion lands first depends on the shuffle; everything else is fixed.
	b.fx.ThenInAnyOrder(`
		WorkflowTaskCompleted execution=` + parentID + ` task=a attempt=1 child_execution=child-a status=completed
		WorkflowTaskTransitioned execution=` + parentID + ` task=a status=completed next=["c"]
		WorkflowTaskCompleted execution=` + parentID + ` task=b attempt=1 child_execution=child-b status=completed
		WorkflowTaskTransitioned execution=` + parentID + ` task=b status=completed next=["c"]
		WorkflowTaskScheduled execution=` + parentID + ` task=c attempt=1 child_execution=01JD000000Y41YKF8VQSRMWBAG action=ex.echo
		ExecutionRequested execution=01JD000000Y41YKF8VQSRMWBAG action=ex.echo runner_type=builtin parent=` + parentID + ` workflow_task=c
	`)
}

// racingLog appends a competing decision just before the engine's own first append to the
// parent stream: the other branch's completion, as a second engine instance would.
type racingLog struct {
	workflow.Log
	race func()
	once bool
}

func (l *racingLog) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if !l.once && stream == execution.StreamID(parentID) {
		l.once = true
		l.race()
	}
	return l.Log.Append(ctx, stream, expected, events...)
}

func TestACompletionThatLosesTheRaceIsDecidedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	_, a, bEnd := midJoin(b)
	c := catalog{"ex.echo": {Ref: "ex.echo", RunnerType: pack.RunnerBuiltin}}
	other := workflow.New(workflow.Config{Log: b.fx.Store(), Catalog: c, Now: b.fx.Now})
	log := &racingLog{Log: b.fx.Store(), race: func() {
		if err := b.fx.Deliver(other.Advance, bEnd); err != nil {
			t.Errorf("the competing completion failed: %v", err)
		}
	}}
	loser := workflow.New(workflow.Config{Log: log, Catalog: c, Now: b.fx.Now})
	err := b.fx.Deliver(loser.Advance, a)
	if !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("the losing append returned %v, want a version conflict for the router to retry", err)
	}
	if err := b.fx.Deliver(loser.Advance, a); err != nil { // the router's retry
		t.Fatal(err)
	}
	b.fx.Then(`
		WorkflowTaskCompleted execution=` + parentID + ` task=b attempt=1 child_execution=child-b status=completed
		WorkflowTaskTransitioned execution=` + parentID + ` task=b status=completed next=["c"]
		WorkflowTaskCompleted execution=` + parentID + ` task=a attempt=1 child_execution=child-a status=completed
		WorkflowTaskTransitioned execution=` + parentID + ` task=a status=completed next=["c"]
		WorkflowTaskScheduled execution=` + parentID + ` task=c attempt=1 child_execution=01JD000000Y41YKF8VQSRMWBAG action=ex.echo
		ExecutionRequested execution=01JD000000Y41YKF8VQSRMWBAG action=ex.echo runner_type=builtin parent=` + parentID + ` workflow_task=c
	`)
}

func TestARedeliveryRequestsTheChildrenACrashLeftOut(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition)
	parent := parentMidJoin(b)
	b.fx.WhenRedelivered(b.engine.Start, parent[0])
	b.fx.Then(`
		ExecutionRequested execution=child-a action=ex.echo runner_type=builtin parent=` + parentID + ` workflow_task=a
		ExecutionRequested execution=child-b action=ex.echo runner_type=builtin parent=` + parentID + ` workflow_task=b
	`)
}

func TestNothingToDo(t *testing.T) {
	t.Parallel()
	for name, given := range map[string]func(b *bundle) eventstore.Recorded{
		"an action that is no workflow": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"), execution.ExecutionRequested{ExecutionID: "e1", Action: "ex.echo", RunnerType: "builtin"})[0]
		},
		"a top-level execution ending": func(b *bundle) eventstore.Recorded {
			return b.fx.Given(execution.StreamID("e1"),
				execution.ExecutionRequested{ExecutionID: "e1", Action: "ex.echo"},
				execution.ExecutionStatusChanged{ExecutionID: "e1", From: execution.Requested, To: execution.Failed})[1]
		},
		"a child that is not over": func(b *bundle) eventstore.Recorded {
			midJoin(b)
			return b.fx.Given(execution.StreamID("child-x"),
				execution.ExecutionRequested{ExecutionID: "child-x", Action: "ex.echo", ParentID: parentID},
				execution.ExecutionStatusChanged{ExecutionID: "child-x", From: execution.Requested, To: execution.Scheduling})[1]
		},
		"a child of a workflow that has ended": func(b *bundle) eventstore.Recorded {
			b.fx.Given(execution.StreamID(parentID),
				execution.ExecutionRequested{ExecutionID: parentID, Action: "ex.wf", RunnerType: "workflow"},
				execution.ExecutionStatusChanged{ExecutionID: parentID, From: execution.Requested, To: execution.Cancelled})
			return b.fx.Given(execution.StreamID("child-x"),
				execution.ExecutionRequested{ExecutionID: "child-x", Action: "ex.echo", ParentID: parentID},
				execution.ExecutionStatusChanged{ExecutionID: "child-x", From: execution.Requested, To: execution.Failed})[1]
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, joinDefinition)
			e := given(b)
			b.fx.WhenRedelivered(b.engine.Start, e)
			b.fx.WhenRedelivered(b.engine.Advance, e)
			b.fx.Then("")
		})
	}
}

func TestAnInvalidWorkflowFailsItsExecution(t *testing.T) {
	t.Parallel()
	b := setup(t, `{"tasks": {"a": {"action": "ex.echo", "next": [{"do": "nowhere"}]}}}`)
	req := b.fx.Given(execution.StreamID(parentID), execution.ExecutionRequested{ExecutionID: parentID, Action: "ex.wf", RunnerType: "workflow"})
	b.fx.WhenRedelivered(b.engine.Start, req...)
	b.fx.Then(`ExecutionStatusChanged execution=` + parentID + ` from=requested to=failed reason="invalid workflow ex.wf: tasks.a.next[0].do: unknown task \"nowhere\""`)
}
