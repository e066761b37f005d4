package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/workflows"
)

func TestWorkflowRowsRoundTripEveryField(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	wf := workflows.Workflow{ID: "wf", Action: "examples.deploy", Status: execution.Failed, Error: "task b failed",
		Vars: json.RawMessage(`{"a": 1}`), Output: json.RawMessage(`{"out": true}`),
		Transitions: []workflows.Transition{{Task: "a", Status: execution.Completed, Published: json.RawMessage(`{"a": 1}`), Next: []string{"b"}, At: at}},
		StartedAt:   at, FinishedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute), Version: 9, Position: pos(9)}
	bare := workflows.Workflow{ID: "bare", Status: execution.Running, Vars: json.RawMessage(`{}`), UpdatedAt: at, Version: 2, Position: pos(2)}
	full := workflows.Run{ChildID: "c1", WorkflowID: "wf", Task: "b", Item: &workflow.Item{Index: 1, Count: 3}, Attempt: 2,
		Action: "core.local", Status: workflows.Failed, Result: json.RawMessage(`{"error": "x"}`), Retried: true, RetryReason: "retry 1 of 2",
		NotBefore: at.Add(time.Second), ScheduledAt: at, FinishedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute),
		ScheduledPosition: pos(3), Position: pos(8)}
	sparse := workflows.Run{ChildID: "c2", WorkflowID: "wf", Task: "a", Attempt: 1, Status: workflows.Scheduled,
		ScheduledAt: at, UpdatedAt: at, ScheduledPosition: pos(4), Position: pos(4)}
	err := db.Update(ctx, workflows.Name, eventstore.Start, pos(9), func(tx projections.Tx) error {
		if err := tx.SaveWorkflows(ctx, []workflows.Workflow{wf, bare}); err != nil {
			return err
		}
		return tx.SaveWorkflowRuns(ctx, []workflows.Run{full, sparse})
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		gotWfs  map[string]workflows.Workflow
		gotRuns map[string]workflows.Run
	)
	err = db.Update(ctx, workflows.Name, pos(9), pos(10), func(tx projections.Tx) (err error) {
		if gotWfs, err = tx.LoadWorkflows(ctx, []string{"wf", "bare", "absent"}); err != nil {
			return err
		}
		// c1 by its id, c2 as a run of (wf, a, attempt 1), which a retry names.
		gotRuns, err = tx.LoadWorkflowRuns(ctx, []string{"c1"}, []workflows.RunRef{{WorkflowID: "wf", Task: "a", Attempt: 1}, {WorkflowID: "wf", Task: "b", Attempt: 1}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wf.Vars, wf.Output, wf.Transitions[0].Published = json.RawMessage(`{"a": 1}`), json.RawMessage(`{"out": true}`), json.RawMessage(`{"a": 1}`)
	for _, want := range []workflows.Workflow{wf, bare} {
		if got := gotWfs[want.ID]; !reflect.DeepEqual(got, want) {
			t.Errorf("workflow %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	for _, want := range []workflows.Run{full, sparse} {
		if got := gotRuns[want.ChildID]; !reflect.DeepEqual(got, want) {
			t.Errorf("run %s:\n got %+v\nwant %+v", want.ChildID, got, want)
		}
	}
	if len(gotWfs) != 2 || len(gotRuns) != 2 {
		t.Errorf("loaded %d workflows and %d runs, want 2 and 2", len(gotWfs), len(gotRuns))
	}
}

// TestGetWorkflowReadsTheTree projects a workflow whose tasks are a plain child, a retried
// child and a nested workflow with a child of its own, and reads the tree back.
func TestGetWorkflowReadsTheTree(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	add := func(id string, es ...event.Event) {
		t.Helper()
		var ps []eventstore.Proposed
		for _, e := range es {
			p, err := eventstore.NewProposed(e, event.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		if _, err := store.Append(ctx, execution.StreamID(id), eventstore.Any, ps...); err != nil {
			t.Fatal(err)
		}
	}
	to := func(id string, from, to execution.Status, result string) *execution.ExecutionStatusChanged {
		e := &execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
		if result != "" {
			e.Result = json.RawMessage(result)
		}
		return e
	}
	started := func(id string) *workflow.WorkflowStarted {
		return &workflow.WorkflowStarted{ExecutionID: id, Action: "examples.deploy", Vars: json.RawMessage(`{"n":0}`)}
	}
	sched := func(wf, task string, attempt int, child, action string) *workflow.WorkflowTaskScheduled {
		return &workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: task, Attempt: attempt, ChildExecutionID: child, Action: action}
	}
	done := func(wf, task string, attempt int, child string, st execution.Status) *workflow.WorkflowTaskCompleted {
		return &workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: task, Attempt: attempt, ChildExecutionID: child, Status: st}
	}
	child := func(id, parent, task, action string, end execution.Status) {
		add(id, &execution.ExecutionRequested{ExecutionID: id, Action: action, ParentID: parent, WorkflowTask: task},
			to(id, execution.Requested, execution.Running, ""), to(id, execution.Running, end, `{"ok":true}`))
	}
	add("wf", &execution.ExecutionRequested{ExecutionID: "wf", Action: "examples.deploy", RunnerType: "workflow"},
		to("wf", execution.Requested, execution.Running, ""), started("wf"), sched("wf", "fetch", 1, "c1", "core.http"))
	child("c1", "wf", "fetch", "core.http", execution.Failed)
	add("wf", done("wf", "fetch", 1, "c1", execution.Failed),
		&workflow.WorkflowTaskRetried{ExecutionID: "wf", Task: "fetch", Attempt: 1, Reason: "retry 1 of 1"},
		sched("wf", "fetch", 2, "c2", "core.http"))
	child("c2", "wf", "fetch", "core.http", execution.Completed)
	add("wf", done("wf", "fetch", 2, "c2", execution.Completed),
		&workflow.WorkflowTaskTransitioned{ExecutionID: "wf", Task: "fetch", Status: execution.Completed, Published: json.RawMessage(`{"n":2}`), Next: []string{"sub"}},
		sched("wf", "sub", 1, "sub", "examples.deploy"))
	add("sub", &execution.ExecutionRequested{ExecutionID: "sub", Action: "examples.deploy", ParentID: "wf", WorkflowTask: "sub"},
		to("sub", execution.Requested, execution.Running, ""), started("sub"), sched("sub", "echo", 1, "c3", "core.echo"))
	// c3 is scheduled but the executions read model never sees it requested (yet).

	if err := projections.Replay(ctx, store, db, eventstore.Start); err != nil {
		t.Fatal(err)
	}
	tree, err := db.GetWorkflow(ctx, "wf")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var walk func(t workflows.Tree, indent string)
	walk = func(tr workflows.Tree, indent string) {
		x := "-"
		if tr.Execution != nil {
			x = fmt.Sprintf("%s %s", tr.Execution.Action, tr.Execution.Status)
		}
		lines = append(lines, fmt.Sprintf("%sworkflow %s (%s) %s vars=%s transitions=%d", indent, tr.Workflow.ID, x, tr.Workflow.Status, tr.Workflow.Vars, len(tr.Workflow.Transitions)))
		for _, n := range tr.Tasks {
			c := "-"
			if n.Child != nil {
				c = string(n.Child.Status)
			}
			lines = append(lines, fmt.Sprintf("%s  %s#%d %s %s retried=%v child=%s", indent, n.Run.Task, n.Run.Attempt, n.Run.ChildID, n.Run.Status, n.Run.Retried, c))
			if n.Nested != nil {
				walk(*n.Nested, indent+"    ")
			}
		}
	}
	walk(tree, "")
	want := `workflow wf (examples.deploy running) running vars={"n": 2} transitions=1
  fetch#1 c1 failed retried=true child=failed
  fetch#2 c2 succeeded retried=false child=completed
  sub#1 sub scheduled retried=false child=running
    workflow sub (examples.deploy running) running vars={"n": 0} transitions=0
      echo#1 c3 scheduled retried=false child=-`
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("tree of wf:\n got:\n%s\nwant:\n%s", got, want)
	}

	for _, id := range []string{"c1", "nope"} {
		if _, err := db.GetWorkflow(ctx, id); !errors.Is(err, workflows.ErrNotFound) {
			t.Errorf("tree of %s, which is no workflow: err = %v, want workflows.ErrNotFound", id, err)
		}
	}
}
