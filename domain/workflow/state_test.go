package workflow_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

const wf = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"

func child(n int) string { return fmt.Sprintf("01JQ3V5E8G7ZKX2N4P6R8T0W%02d", n) }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// run is a workflow that runs task "fetch", then "notify" over two items, where item 0
// fails once and is retried, and ends.
func run() []event.Event {
	two := func(i int) *workflow.Item { return &workflow.Item{Index: i, Count: 2} }
	return []event.Event{
		execution.ExecutionRequested{ExecutionID: wf, Action: "examples.deploy"},
		workflow.WorkflowStarted{ExecutionID: wf, Action: "examples.deploy", Definition: raw(`{}`), Vars: raw(`{"hosts":[],"tries":0}`)},
		workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Action: "core.http"},
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "fetch", Attempt: 1, ChildExecutionID: child(1), Status: execution.Completed, Result: raw(`["a","b"]`)},
		workflow.WorkflowTaskTransitioned{ExecutionID: wf, Task: "fetch", Status: execution.Completed, Published: raw(`{"hosts":["a","b"]}`), Next: []string{"notify"}},
		workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "notify", Item: two(0), Attempt: 1, ChildExecutionID: child(2), Action: "examples.shout"},
		&workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "notify", Item: two(1), Attempt: 1, ChildExecutionID: child(3), Action: "examples.shout"},
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "notify", Item: two(0), Attempt: 1, ChildExecutionID: child(2), Status: execution.Failed},
		workflow.WorkflowTaskRetried{ExecutionID: wf, Task: "notify", Item: two(0), Attempt: 1, Reason: "failed"},
		workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "notify", Item: two(0), Attempt: 2, ChildExecutionID: child(4), Action: "examples.shout"},
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "notify", Item: two(1), Attempt: 1, ChildExecutionID: child(3), Status: execution.Completed},
	}
}

func TestFoldKnowsWhichTasksRanWithWhichItemAndWhatWasPublished(t *testing.T) {
	t.Parallel()
	s, err := workflow.FromEvents(run())
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	if got, want := script(s.Runs("notify")), strings.Join([]string{
		"notify item 0/2 attempt 1 child 02: failed, retried",
		"notify item 1/2 attempt 1 child 03: completed",
		"notify item 0/2 attempt 2 child 04: running",
	}, "\n"); got != want {
		t.Fatalf("runs of notify:\n%s\nwant\n%s", got, want)
	}
	if got, want := script(s.Pending()), "notify item 0/2 attempt 2 child 04: running"; got != want {
		t.Fatalf("pending: %s, want %s", got, want)
	}
	if got := s.Vars(); !reflect.DeepEqual(got, map[string]json.RawMessage{"hosts": raw(`["a","b"]`), "tries": raw(`0`)}) {
		t.Fatalf("vars: %s", got)
	}
	if st, ok := s.Outcome("fetch"); !ok || st != execution.Completed {
		t.Fatalf("outcome of fetch: %s %t", st, ok)
	}
	if _, ok := s.Outcome("notify"); ok {
		t.Fatal("notify finished before its last item")
	}
	if s.Inbound("notify") != 1 || s.Inbound("fetch") != 0 {
		t.Fatalf("inbound: notify %d, fetch %d", s.Inbound("notify"), s.Inbound("fetch"))
	}
	if _, done := s.Done(); done {
		t.Fatal("done before WorkflowCompleted")
	}
	if s.Version() != int64(len(run())) {
		t.Fatalf("version %d, want %d: every event of the parent stream counts", s.Version(), len(run()))
	}

	// The engine decides the rest and folds its own decisions.
	for _, e := range []event.Event{
		workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "notify", Item: &workflow.Item{Index: 0, Count: 2}, Attempt: 2, ChildExecutionID: child(4), Status: execution.Completed},
		workflow.WorkflowTaskTransitioned{ExecutionID: wf, Task: "notify", Status: execution.Completed, Published: raw(`{"tries":2}`)},
		workflow.WorkflowCompleted{ExecutionID: wf, Status: execution.Completed, Output: raw(`{}`)},
	} {
		if err := s.Apply(e); err != nil {
			t.Fatalf("apply %s: %v", e.EventType(), err)
		}
	}
	if st, done := s.Done(); !done || st != execution.Completed {
		t.Fatalf("done = %s %t", st, done)
	}
	if got := string(s.Vars()["tries"]); got != "2" {
		t.Fatalf("tries = %s, want the later publish", got)
	}
	if got := s.Finished(); !reflect.DeepEqual(got, []string{"fetch", "notify"}) {
		t.Fatalf("finished %v", got)
	}
}

func TestFoldRefusesAStreamNoEngineCouldHaveWritten(t *testing.T) {
	t.Parallel()
	start := workflow.WorkflowStarted{ExecutionID: wf, Action: "examples.deploy", Definition: raw(`{}`)}
	sched := workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "a", Attempt: 1, ChildExecutionID: child(1), Action: "core.noop"}
	done := workflow.WorkflowTaskCompleted{ExecutionID: wf, Task: "a", Attempt: 1, ChildExecutionID: child(1), Status: execution.Completed}
	tests := []struct {
		name   string
		events []event.Event
		errHas string
	}{
		{"task before the start", []event.Event{sched}, "before WorkflowStarted"},
		{"started twice", []event.Event{start, start}, "started twice"},
		{"another workflow's event", []event.Event{start, workflow.WorkflowTaskScheduled{ExecutionID: child(9), Task: "a", Attempt: 1, ChildExecutionID: child(1)}}, "in the stream of workflow"},
		{"attempt zero", []event.Event{start, workflow.WorkflowTaskScheduled{ExecutionID: wf, Task: "a", ChildExecutionID: child(1)}}, "attempt 0"},
		{"one child scheduled twice", []event.Event{start, sched, sched}, "scheduled twice"},
		{"completion of an unknown child", []event.Event{start, done}, "never scheduled"},
		{"completion twice", []event.Event{start, sched, done, done}, "completed twice"},
		{"completion as another item", []event.Event{start, sched, func() event.Event {
			d := done
			d.Item = &workflow.Item{Index: 0, Count: 1}
			return d
		}()}, "scheduled as task a"},
		{"completion as another activation", []event.Event{start, sched, func() event.Event {
			d := done
			d.Activation = 1
			return d
		}()}, "activation 1"},
		{"completion with a live status", []event.Event{start, sched, func() event.Event {
			d := done
			d.Status = execution.Running
			return d
		}()}, "non-terminal"},
		{"retry of a success", []event.Event{start, sched, done, workflow.WorkflowTaskRetried{ExecutionID: wf, Task: "a", Attempt: 1, Reason: "x"}}, "retry of task a attempt 1"},
		{"retry of a run that never was", []event.Event{start, workflow.WorkflowTaskRetried{ExecutionID: wf, Task: "a", Attempt: 1, Reason: "x"}}, "never ran"},
		{"published vars that are not an object", []event.Event{start, workflow.WorkflowTaskTransitioned{ExecutionID: wf, Task: "a", Status: execution.Completed, Published: raw(`[1]`)}}, "want a JSON object"},
		{"a task after the end", []event.Event{start, workflow.WorkflowCompleted{ExecutionID: wf, Status: execution.Failed}, sched}, "after WorkflowCompleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := workflow.FromEvents(tt.events); err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("FromEvents = %v, want an error containing %q", err, tt.errHas)
			}
		})
	}
}

func script(runs []workflow.Run) string {
	var lines []string
	for _, r := range runs {
		status := string(r.Status)
		if status == "" {
			status = "running"
		}
		if r.Retried {
			status += ", retried"
		}
		item := ""
		if r.Item != nil {
			item = fmt.Sprintf(" item %d/%d", r.Item.Index, r.Item.Count)
		}
		lines = append(lines, fmt.Sprintf("%s%s attempt %d child %s: %s", r.Task, item, r.Attempt, r.ChildExecutionID[24:], status))
	}
	return strings.Join(lines, "\n")
}
