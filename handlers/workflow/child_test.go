package workflow_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
)

// requests lists the children's requests as "task attempt: not_before timeout" lines.
func requests(t *testing.T, b *bundle) []string {
	t.Helper()
	var out []string
	for _, req := range b.children(t) {
		nb := "now"
		if !req.NotBefore.IsZero() {
			nb = "+" + req.NotBefore.Sub(b.fx.Now()).String()
		}
		out = append(out, fmt.Sprintf("%s: not_before %s, timeout %ds", req.WorkflowTask, nb, req.TimeoutSeconds))
	}
	return out
}

func TestAChildRequestCarriesItsTasksDelayAndTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "later": {"action": "ex.echo", "delay": 30, "timeout": 1.5, "next": [{"do": "now"}]},
	    "now":   {"action": "ex.echo"}
	  }
	}`)
	b.run(t, `{}`, echo)
	got, want := requests(t, b), []string{
		"later: not_before +30s, timeout 2s", // a sub-second part still bounds the run: rounded up
		"now: not_before now, timeout 0s",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("child requests:\n%q\nwant:\n%q", got, want)
	}
}

func TestARetrysChildWaitsOutItsBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "flaky": {"action": "ex.fail", "timeout": 10, "retry": {"count": 2, "delay": 1, "backoff": "exponential"}}
	  }
	}`)
	b.run(t, `{}`, func(req *execution.ExecutionRequested, runs int) (execution.Status, string) {
		if runs < 2 {
			return execution.Failed, ""
		}
		return execution.Completed, `{}`
	})
	got, want := requests(t, b), []string{
		"flaky: not_before now, timeout 10s",
		"flaky: not_before +1s, timeout 10s",
		"flaky: not_before +2s, timeout 10s",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("child requests:\n%q\nwant:\n%q", got, want)
	}
}

func TestAChildRequestedAfterACrashKeepsItsNotBeforeAndTimeout(t *testing.T) {
	t.Parallel()
	const definition = `{"tasks": {"later": {"action": "ex.echo", "delay": 30, "timeout": 5}}}`
	b := setup(t, definition)
	notBefore := b.fx.Now().Add(30 * time.Second)
	// The decision that scheduled the run was recorded; its child's request was not.
	parent := b.fx.Given(execution.StreamID(parentID),
		execution.ExecutionRequested{ExecutionID: parentID, Action: "ex.wf", RunnerType: string(pack.RunnerWorkflow)},
		execution.ExecutionStatusChanged{ExecutionID: parentID, From: execution.Requested, To: execution.Running},
		wf.WorkflowStarted{ExecutionID: parentID, Action: "ex.wf", Definition: json.RawMessage(definition)},
		wf.WorkflowTaskScheduled{ExecutionID: parentID, Task: "later", Attempt: 1, ChildExecutionID: "child-later", Action: "ex.echo", NotBefore: notBefore},
	)
	b.fx.WhenRedelivered(b.engine.Start, parent[0])
	b.fx.Then(`ExecutionRequested execution=child-later action=ex.echo runner_type=builtin parent=` + parentID +
		` workflow_task=later not_before=2026-01-02T03:04:35Z timeout=5`)
}
