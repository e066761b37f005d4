package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/workflows"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// record puts events on one workflow's stream, one minute apart.
func record(t *testing.T, wf string, es ...event.Event) []eventstore.Recorded {
	t.Helper()
	var out []eventstore.Recorded
	for i, e := range es {
		p, err := eventstore.NewProposed(e, event.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, eventstore.Recorded{ID: p.ID, StreamID: execution.StreamID(wf), StreamVersion: int64(i + 2), Type: p.Type,
			Data: p.Data, RecordedAt: t0.Add(time.Duration(i+1) * time.Minute), Position: eventstore.Position{Minor: uint64(i + 1)}})
	}
	return out
}

func at(tm time.Time) string {
	if tm.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%dm", int(tm.Sub(t0).Minutes()))
}

// render is the script the rows are compared as.
func render(m *memtx.Tx) string {
	var lines []string
	for _, id := range slices.Sorted(maps.Keys(m.Workflows)) {
		w := m.Workflows[id]
		lines = append(lines, fmt.Sprintf("workflow %s %s status=%s vars=%s output=%s error=%q started=%s finished=%s v=%d",
			w.ID, w.Action, w.Status, w.Vars, w.Output, w.Error, at(w.StartedAt), at(w.FinishedAt), w.Version))
		for _, tr := range w.Transitions {
			lines = append(lines, fmt.Sprintf("  %s %s published=%s next=%v at=%s", tr.Task, tr.Status, tr.Published, tr.Next, at(tr.At)))
		}
	}
	runs := slices.SortedFunc(maps.Values(m.WorkflowRuns), func(a, b workflows.Run) int {
		return int(a.ScheduledPosition.Minor) - int(b.ScheduledPosition.Minor)
	})
	for _, r := range runs {
		item := "-"
		if r.Item != nil {
			item = fmt.Sprintf("%d/%d", r.Item.Index, r.Item.Count)
		}
		s := fmt.Sprintf("run %s of %s: %s item=%s attempt=%d %s result=%s scheduled=%s finished=%s",
			r.ChildID, r.WorkflowID, r.Task, item, r.Attempt, r.Status, r.Result, at(r.ScheduledAt), at(r.FinishedAt))
		if r.Retried {
			s += " retried: " + r.RetryReason
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func TestApply(t *testing.T) {
	t.Parallel()
	items := func(i int) *workflow.Item { return &workflow.Item{Index: i, Count: 2} }
	tests := []struct {
		name  string
		given func(t *testing.T) []eventstore.Recorded
		want  string
	}{{
		name: "a sequence publishing vars, with a retried with-items task, completes with its output",
		given: func(t *testing.T) []eventstore.Recorded {
			return record(t, "wf",
				&workflow.WorkflowStarted{ExecutionID: "wf", Action: "examples.deploy", Definition: json.RawMessage(`{}`), Vars: json.RawMessage(`{"greeting": "hello"}`)},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "fetch", Attempt: 1, ChildExecutionID: "c1", Action: "examples.get_hosts"},
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "fetch", Attempt: 1, ChildExecutionID: "c1", Status: execution.Completed, Result: json.RawMessage(`{"hosts":["a","b"]}`)},
				&workflow.WorkflowTaskTransitioned{ExecutionID: "wf", Task: "fetch", Status: execution.Completed, Published: json.RawMessage(`{"hosts":["a","b"]}`), Next: []string{"deploy"}},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "deploy", Item: items(0), Attempt: 1, ChildExecutionID: "c2", Action: "examples.deploy_host"},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "deploy", Item: items(1), Attempt: 1, ChildExecutionID: "c3", Action: "examples.deploy_host"},
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "deploy", Item: items(1), Attempt: 1, ChildExecutionID: "c3", Status: execution.Failed},
				&workflow.WorkflowTaskRetried{ExecutionID: "wf", Task: "deploy", Item: items(1), Attempt: 1, Reason: "retry 1 of 2"},
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "deploy", Item: items(0), Attempt: 1, ChildExecutionID: "c2", Status: execution.Completed},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "deploy", Item: items(1), Attempt: 2, ChildExecutionID: "c4", Action: "examples.deploy_host"},
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "deploy", Item: items(1), Attempt: 2, ChildExecutionID: "c4", Status: execution.Completed},
				&workflow.WorkflowTaskTransitioned{ExecutionID: "wf", Task: "deploy", Status: execution.Completed, Published: json.RawMessage(`{"greeting":"done"}`)},
				&workflow.WorkflowCompleted{ExecutionID: "wf", Status: execution.Completed, Output: json.RawMessage(`{"hosts":["a","b"]}`)},
			)
		},
		want: `workflow wf examples.deploy status=completed vars={"greeting":"done","hosts":["a","b"]} output={"hosts":["a","b"]} error="" started=+1m finished=+13m v=14
  fetch completed published={"hosts":["a","b"]} next=[deploy] at=+4m
  deploy completed published={"greeting":"done"} next=[] at=+12m
run c1 of wf: fetch item=- attempt=1 succeeded result={"hosts":["a","b"]} scheduled=+2m finished=+3m
run c2 of wf: deploy item=0/2 attempt=1 succeeded result= scheduled=+5m finished=+9m
run c3 of wf: deploy item=1/2 attempt=1 failed result= scheduled=+6m finished=+7m retried: retry 1 of 2
run c4 of wf: deploy item=1/2 attempt=2 succeeded result= scheduled=+10m finished=+11m`,
	}, {
		name: "a timed-out task taking no branch fails the workflow; a task in flight stays scheduled",
		given: func(t *testing.T) []eventstore.Recorded {
			return record(t, "wf",
				&workflow.WorkflowStarted{ExecutionID: "wf", Action: "examples.slow"},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "a", Attempt: 1, ChildExecutionID: "ca"},
				&workflow.WorkflowTaskScheduled{ExecutionID: "wf", Task: "b", Attempt: 1, ChildExecutionID: "cb"},
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "a", Attempt: 1, ChildExecutionID: "ca", Status: execution.Timeout},
				&workflow.WorkflowTaskTransitioned{ExecutionID: "wf", Task: "a", Status: execution.Timeout},
			)
		},
		want: `workflow wf examples.slow status=running vars={} output= error="" started=+1m finished=- v=6
  a timeout published= next=[] at=+5m
run ca of wf: a item=- attempt=1 timed_out result= scheduled=+2m finished=+4m
run cb of wf: b item=- attempt=1 scheduled result= scheduled=+3m finished=-`,
	}, {
		name: "a log that starts mid-run fills in what it can",
		given: func(t *testing.T) []eventstore.Recorded {
			return record(t, "wf",
				&workflow.WorkflowTaskCompleted{ExecutionID: "wf", Task: "a", Attempt: 1, ChildExecutionID: "ca", Status: execution.Cancelled},
				&workflow.WorkflowCompleted{ExecutionID: "wf", Status: execution.Cancelled, Error: "cancelled by alice"},
			)
		},
		want: `workflow wf  status=cancelled vars={} output= error="cancelled by alice" started=- finished=+2m v=3
run ca of wf: a item=- attempt=1 cancelled result= scheduled=+1m finished=+1m`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log := tt.given(t)
			// How the runner cuts the log into batches cannot change the rows.
			for _, size := range []int{1, 3, len(log)} {
				m := memtx.New()
				for b := range slices.Chunk(log, size) {
					if err := workflows.Apply(context.Background(), m, b); err != nil {
						t.Fatal(err)
					}
				}
				if got := render(m); got != tt.want {
					t.Errorf("batches of %d:\n got:\n%s\nwant:\n%s", size, got, tt.want)
				}
			}
		})
	}
}

func TestApplyLoadsAndSavesOncePerBatch(t *testing.T) {
	t.Parallel()
	var log []eventstore.Recorded
	log = append(log, record(t, "w1",
		&workflow.WorkflowStarted{ExecutionID: "w1", Action: "x"},
		&workflow.WorkflowTaskScheduled{ExecutionID: "w1", Task: "a", Attempt: 1, ChildExecutionID: "c1"},
		&workflow.WorkflowTaskCompleted{ExecutionID: "w1", Task: "a", Attempt: 1, ChildExecutionID: "c1", Status: execution.Failed},
		&workflow.WorkflowTaskRetried{ExecutionID: "w1", Task: "a", Attempt: 1},
	)...)
	log = append(log, record(t, "w2", &workflow.WorkflowStarted{ExecutionID: "w2", Action: "x"})...)
	m := memtx.New()
	if err := workflows.Apply(context.Background(), m, log); err != nil {
		t.Fatal(err)
	}
	if m.Loads != 2 || m.Saves != 2 || len(m.Workflows) != 2 || !m.WorkflowRuns["c1"].Retried {
		t.Errorf("5 events of 2 workflows: %d loads, %d saves, %d workflows, run %+v; want 2, 2, 2, retried",
			m.Loads, m.Saves, len(m.Workflows), m.WorkflowRuns["c1"])
	}
}

func TestApplyRejectsVarsThatAreNotAnObject(t *testing.T) {
	t.Parallel()
	log := record(t, "wf", &workflow.WorkflowStarted{ExecutionID: "wf", Vars: json.RawMessage(`[1]`)})
	err := workflows.Apply(context.Background(), memtx.New(), log)
	if err == nil || !strings.Contains(err.Error(), log[0].ID.String()) {
		t.Errorf("apply vars [1]: err = %v, want one naming event %s", err, log[0].ID)
	}
}

func TestBuildNestsChildWorkflowsDownToMaxDepth(t *testing.T) {
	t.Parallel()
	// A chain of workflows, each the only task of the one above: deeper than MaxDepth.
	p := workflows.Parts{Workflows: map[string]workflows.Workflow{}, Executions: map[string]executions.Execution{}, Deeper: map[string]bool{}}
	n := workflows.MaxDepth + 1
	for i := range n {
		id, child := fmt.Sprint("w", i), fmt.Sprint("w", i+1)
		p.Workflows[id] = workflows.Workflow{ID: id, Status: execution.Running}
		p.Executions[id] = executions.Execution{ID: id, Action: "examples.nest", Status: execution.Running}
		p.Runs = append(p.Runs, workflows.Run{ChildID: child, WorkflowID: id, Task: "inner", Attempt: 1, Status: workflows.Scheduled})
	}
	p.Deeper[fmt.Sprint("w", n)] = true
	delete(p.Workflows, fmt.Sprint("w", n)) // the adapter leaves rows past the limit out
	tree, err := workflows.Build("w0", p)
	if err != nil {
		t.Fatal(err)
	}
	depth, node := 0, &tree
	for {
		if node.Execution == nil || node.Execution.ID != node.Workflow.ID || len(node.Tasks) != 1 {
			t.Fatalf("level %d: %+v", depth, node)
		}
		task := node.Tasks[0]
		if task.Nested == nil {
			if !task.Truncated || depth != workflows.MaxDepth {
				t.Errorf("the tree ends at level %d (truncated %v), want level %d, truncated", depth, task.Truncated, workflows.MaxDepth)
			}
			break
		}
		if task.Child == nil || task.Child.ID != task.Run.ChildID {
			t.Errorf("level %d: child %+v, want the row of %s", depth, task.Child, task.Run.ChildID)
		}
		depth, node = depth+1, task.Nested
	}
	if _, err := workflows.Build("c9", p); err == nil {
		t.Error("built the tree of an execution that is no workflow")
	}
}
