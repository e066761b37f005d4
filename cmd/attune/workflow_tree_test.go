package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/workflows"
)

func TestExecutionGetTreePrintsTheWorkflowTree(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(child, task string, item *workflow.Item, attempt int, action string, st workflows.RunStatus) workflows.Run {
		return workflows.Run{ChildID: child, Task: task, Item: item, Attempt: attempt, Action: action, Status: st, ScheduledAt: at}
	}
	x := func(id, action string, st execution.Status, secs int) *executions.Execution {
		return &executions.Execution{ID: id, Action: action, Status: st, StartedAt: at, FinishedAt: at.Add(time.Duration(secs) * time.Second)}
	}
	failed := run("C2", "deploy", &workflow.Item{Index: 1, Count: 2}, 1, "examples.deploy_host", workflows.Failed)
	failed.Retried, failed.RetryReason = true, "retry 1 of 2"
	tree := workflows.Tree{
		Workflow: workflows.Workflow{ID: "WF", Action: "examples.deploy", Status: execution.Completed, Vars: json.RawMessage(`{"hosts":["a","b"]}`),
			Output: json.RawMessage(`{"n":2}`)},
		Tasks: []workflows.Node{
			{Run: run("C1", "fetch", nil, 1, "core.http", workflows.Succeeded), Child: x("C1", "core.http", execution.Completed, 2)},
			{Run: failed, Child: x("C2", "examples.deploy_host", execution.Failed, 1)},
			{Run: run("C3", "deploy", &workflow.Item{Index: 1, Count: 2}, 2, "examples.deploy_host", workflows.Succeeded), Child: x("C3", "examples.deploy_host", execution.Completed, 1)},
			{Run: run("SUB", "report", nil, 1, "examples.report", workflows.Scheduled), Child: &executions.Execution{ID: "SUB", Action: "examples.report", Status: execution.Running},
				Nested: &workflows.Tree{Workflow: workflows.Workflow{ID: "SUB", Status: execution.Running, Vars: json.RawMessage(`{}`)},
					Tasks: []workflows.Node{{Run: run("C4", "say", nil, 1, "core.echo", workflows.Scheduled)}}}},
		},
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{GetWorkflow: func(_ context.Context, id string) (workflows.Tree, error) {
		if id != "WF" {
			return workflows.Tree{}, workflows.ErrNotFound
		}
		return tree, nil
	}}))
	t.Cleanup(srv.Close)

	out, stderr, err := attune(t, "execution", "get", "WF", "--tree", "--url", srv.URL)
	if err != nil {
		t.Fatalf("attune execution get WF --tree: %v\n%s", err, stderr)
	}
	rest := out
	for _, w := range []string{
		"workflow WF  examples.deploy  completed", `vars    {"hosts":["a","b"]}`, `output  {"n":2}`,
		"TASK", "EXECUTION", "ACTION", "STATUS",
		"fetch ", "C1", "core.http", "completed", "2s",
		"deploy[1/2] ", "C2", "examples.deploy_host", "failed", "retried: retry 1 of 2",
		"deploy[1/2] (attempt 2)", "C3", "completed",
		"report ", "SUB", "examples.report", "running",
		"\n  say ", "C4", "core.echo", "scheduled",
	} {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in order):\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}

	if _, _, err := attune(t, "execution", "get", "C1", "--tree", "--url", srv.URL); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("the tree of an execution that is no workflow: err = %v", err)
	}
}
