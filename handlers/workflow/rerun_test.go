package workflow_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/handlertest"
)

const rerunID = "01JD0000000000000000000001"

// rerun requests a re-run of the workflow parentID ran, from task, and drives it with end.
func (b *bundle) rerun(t *testing.T, task string, failedItems bool, end ender) string {
	t.Helper()
	p, err := eventstore.NewProposed(execution.ExecutionRequested{
		ExecutionID: rerunID, Action: "ex.wf", RunnerType: string(pack.RunnerWorkflow), Parameters: json.RawMessage(`{}`),
		RerunOf: parentID, RerunFromTask: task, RerunFailedItems: failedItems,
	}, event.Metadata{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.fx.Store().ReadAll(t.Context(), eventstore.Position{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	after := head[len(head)-1].Position
	if _, err := b.fx.Store().Append(t.Context(), execution.StreamID(rerunID), eventstore.NoStream, p); err != nil {
		t.Fatal(err)
	}
	b.pump(t, &after, end)
	recorded, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(rerunID))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recorded {
		if r.Type != "WorkflowStarted" && r.Type != "ExecutionRequested" {
			line := strings.ReplaceAll(summary(r), " execution="+rerunID, "")
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// summary is a Summary without child ids, which derive from the run.
func summary(r eventstore.Recorded) string {
	var out []string
	for _, f := range strings.Fields(handlertestSummary(r)) {
		if !strings.HasPrefix(f, "child_execution=") && !strings.HasPrefix(f, "reused_from=") {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

func (b *bundle) requestedFor(t *testing.T, parent string) []string {
	t.Helper()
	all, err := b.fx.Store().ReadAll(t.Context(), eventstore.Position{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for _, r := range all {
		e, _ := r.Decode()
		if req, ok := e.(*execution.ExecutionRequested); ok && req.ParentID == parent {
			tasks = append(tasks, req.WorkflowTask)
		}
	}
	return tasks
}

func TestARerunFromATaskReusesTheTasksBeforeItAndRunsItOnward(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "a": {"action": "ex.echo", "input": {"n": 1}, "next": [{"publish": {"x": "{{ result().n }}"}, "do": "b"}]},
	    "b": {"action": "ex.echo", "input": {"n": "{{ vars.x + 1 }}"}, "next": [{"do": "c"}]},
	    "c": {"action": "ex.fail", "input": {"n": "{{ task.b.result.n + 1 }}"}, "next": [{"when": "{{ succeeded() }}", "do": "d"}]},
	    "d": {"action": "ex.echo", "input": {"x": "{{ vars.x }}"}}
	  },
	  "output": {"d": "{{ task.d.result.x }}"}
	}`)
	b.run(t, `{}`, func(req *execution.ExecutionRequested, _ int) (execution.Status, string) {
		if req.WorkflowTask == "c" {
			return execution.Failed, ""
		}
		return execution.Completed, string(req.Parameters)
	})
	if st := b.status(t, parentID); st != execution.Failed {
		t.Fatalf("original %s, want failed", st)
	}
	before := len(b.requestedFor(t, parentID))
	got := b.rerun(t, "c", false, echoAll)
	same(t, got, `
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowTaskScheduled task=a attempt=1 action=ex.echo input={"n":1}
		WorkflowTaskCompleted task=a attempt=1 status=completed result={"n":1}
		WorkflowTaskTransitioned task=a status=completed published={"x":1} next=["b"]
		WorkflowTaskScheduled task=b attempt=1 action=ex.echo input={"n":2}
		WorkflowTaskCompleted task=b attempt=1 status=completed result={"n":2}
		WorkflowTaskTransitioned task=b status=completed next=["c"]
		WorkflowTaskScheduled task=c attempt=1 action=ex.fail input={"n":3}
		WorkflowTaskCompleted task=c attempt=1 status=completed result={"n":3}
		WorkflowTaskTransitioned task=c status=completed next=["d"]
		WorkflowTaskScheduled task=d attempt=1 action=ex.echo input={"x":1}
		WorkflowTaskCompleted task=d attempt=1 status=completed result={"x":1}
		WorkflowTaskTransitioned task=d status=completed
		WorkflowCompleted status=completed output={"d":1}
		ExecutionStatusChanged from=running to=completed result={"d":1}
	`)
	if tasks := b.requestedFor(t, rerunID); strings.Join(tasks, ",") != "c,d" {
		t.Errorf("the re-run requested %v, want c and d alone", tasks)
	}
	if n := len(b.requestedFor(t, parentID)); n != before {
		t.Errorf("the original got %d more children", n-before)
	}
	if st := b.status(t, parentID); st != execution.Failed {
		t.Errorf("original is %s now; it must stay failed", st)
	}
}

func TestARerunOfFailedItemsRunsOnlyThoseAndReusesTheOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "each": {"action": "ex.echo", "with": {"items": "{{ [1, 2, 3, 4, 5] }}", "concurrency": 2}, "input": {"i": "{{ item }}"},
	             "next": [{"when": "{{ succeeded() }}", "publish": {"all": "{{ result() }}"}}]}
	  },
	  "output": {"all": "{{ vars.all }}"}
	}`)
	b.run(t, `{}`, func(req *execution.ExecutionRequested, _ int) (execution.Status, string) {
		if s := string(req.Parameters); s == `{"i":2}` || s == `{"i":4}` {
			return execution.Failed, ""
		}
		return execution.Completed, string(req.Parameters)
	})
	if st := b.status(t, parentID); st != execution.Failed {
		t.Fatalf("original %s, want failed", st)
	}
	got := b.rerun(t, "each", true, echoAll)
	if tasks := b.requestedFor(t, rerunID); len(tasks) != 2 {
		t.Errorf("the re-run requested %d items, want the 2 that failed:\n%s", len(tasks), got)
	}
	if !strings.Contains(got, `ExecutionStatusChanged from=running to=completed result={"all":[{"i":1},{"i":2},{"i":3},{"i":4},{"i":5}]}`) {
		t.Errorf("the re-run did not complete with every item's result:\n%s", got)
	}
}

func TestARerunFromATaskThatNeverRanFailsNamingIt(t *testing.T) {
	t.Parallel()
	b := setup(t, chain)
	b.run(t, `{}`, echo)
	got := b.rerun(t, "zz", false, echoAll)
	if !strings.Contains(got, `to=failed reason="workflow ex.wf: re-run from task zz: the workflow has no such task"`) {
		t.Errorf("re-run from an unknown task:\n%s", got)
	}
}

func handlertestSummary(r eventstore.Recorded) string { return handlertest.Summary(r) }
