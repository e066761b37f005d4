package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/workflows"
)

func TestGetWorkflowAnswersTheTree(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tree := workflows.Tree{
		Execution: &executions.Execution{ID: "wf", Action: "examples.deploy", Status: execution.Running, CreatedAt: at, UpdatedAt: at},
		Workflow: workflows.Workflow{ID: "wf", Action: "examples.deploy", Status: execution.Running,
			Vars:        json.RawMessage(`{"hosts":["a"],"token":{"$secret":"v1:abc"}}`),
			Transitions: []workflows.Transition{{Task: "fetch", Status: execution.Completed, Published: json.RawMessage(`{"hosts":["a"]}`), At: at}},
			StartedAt:   at},
		Tasks: []workflows.Node{
			{Run: workflows.Run{ChildID: "c1", WorkflowID: "wf", Task: "fetch", Attempt: 1, Action: "core.http", Status: workflows.Succeeded,
				Result: json.RawMessage(`{"hosts":["a"]}`), ScheduledAt: at, FinishedAt: at.Add(time.Minute)},
				Child: &executions.Execution{ID: "c1", Action: "core.http", Status: execution.Completed, StartedAt: at, FinishedAt: at.Add(time.Minute)}},
			{Run: workflows.Run{ChildID: "sub", WorkflowID: "wf", Task: "deploy", Item: &workflow.Item{Index: 0, Count: 1}, Attempt: 1,
				Action: "examples.nested", Status: workflows.Scheduled, ScheduledAt: at.Add(time.Minute)},
				Nested: &workflows.Tree{Workflow: workflows.Workflow{ID: "sub", Action: "examples.nested", Status: execution.Running, Vars: json.RawMessage(`{}`)},
					Tasks: []workflows.Node{{Run: workflows.Run{ChildID: "c3", Task: "echo", Attempt: 1, Action: "core.echo", Status: workflows.Scheduled}, Truncated: true}}}},
		},
	}
	srv := httptest.NewServer(New(Config{GetWorkflow: func(_ context.Context, id string) (workflows.Tree, error) {
		if id != "wf" {
			return workflows.Tree{}, workflows.ErrNotFound
		}
		return tree, nil
	}}))
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := get("/api/v1/executions/wf/workflow")
	var got WorkflowTree
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("GET the tree: %d %s (%v)", code, body, err)
	}
	if got.Execution == nil || got.Execution.ID != "wf" || got.Status != execution.Running || len(got.Tasks) != 2 || len(got.Transitions) != 1 {
		t.Fatalf("tree: %s", body)
	}
	if strings.Contains(body, "v1:abc") || !strings.Contains(string(got.Vars), `"********"`) {
		t.Errorf("a sealed var is shown: vars = %s", got.Vars)
	}
	fetch, deploy := got.Tasks[0], got.Tasks[1]
	if fetch.Child.Status != execution.Completed || fetch.Child.FinishedAt == nil || fetch.Status != workflows.Succeeded || fetch.Item != nil {
		t.Errorf("fetch: %+v", fetch)
	}
	if deploy.Item == nil || *deploy.Item != (WorkflowItem{Index: 0, Count: 1}) || deploy.Child.ID != "sub" || deploy.Child.Status != "" ||
		deploy.Workflow == nil || deploy.Workflow.Execution != nil || len(deploy.Workflow.Tasks) != 1 || !deploy.Workflow.Tasks[0].Truncated {
		t.Errorf("deploy, a nested workflow whose child is too deep: %+v", deploy)
	}
	if string(deploy.Result) != "null" || deploy.Workflow.Tasks[0].Child.ID != "c3" {
		t.Errorf("deploy: result %s, nested child %+v", deploy.Result, deploy.Workflow.Tasks[0].Child)
	}

	code, body = get("/api/v1/executions/c1/workflow")
	if code != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("GET the tree of an execution that is no workflow: %d %s", code, body)
	}
}

func TestOpenAPIWorkflowTreeMatchesTheGoType(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	op := operations(doc)["GET /api/v1/executions/{id}/workflow"]
	resp := resolve(t, doc, obj(op["responses"])["200"])
	schema := obj(obj(obj(resp["content"])["application/json"])["schema"])
	checkSchema(t, doc, "GET /api/v1/executions/{id}/workflow 200", schema, reflect.TypeFor[WorkflowTree](), map[reflect.Type]bool{})
}
