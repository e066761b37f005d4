package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/adapters/web"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/workflows"
)

// errNotFinished stands for the re-run use case's refusal that the API answers 409.
var errNotFinished = errors.New("execution 01RUN is running: it has not finished")

// ops is a dashboard over a failed workflow (01WF, with a nested sub-workflow 01SUB), a
// completed action (01DONE) and a running one (01RUN), recording the re-runs it asks for.
type ops struct {
	*fixture
	mu     sync.Mutex
	reruns []string
}

func (o *ops) rerunsAsked() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.reruns...)
}

func setupOps(t *testing.T, withTree bool) *ops {
	t.Helper()
	o := &ops{fixture: &fixture{}}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	xs := map[string]executions.Execution{
		"01WF": {ID: "01WF", Action: "ops.deploy", Status: execution.Failed, RunnerType: string(pack.RunnerWorkflow),
			CreatedAt: at(0), StartedAt: at(0), FinishedAt: at(9), UpdatedAt: at(9)},
		"01PREP": {ID: "01PREP", Action: "core.local", Status: execution.Completed, Parent: "01WF", WorkflowTask: "prepare",
			CreatedAt: at(1), StartedAt: at(1), FinishedAt: at(2), UpdatedAt: at(2)},
		"01SUB": {ID: "01SUB", Action: "ops.rollout", Status: execution.Failed, Parent: "01WF", WorkflowTask: "rollout",
			RunnerType: string(pack.RunnerWorkflow), CreatedAt: at(3), StartedAt: at(3), FinishedAt: at(8), UpdatedAt: at(8)},
		"01HOST": {ID: "01HOST", Action: "core.ssh", Status: execution.Failed, Parent: "01SUB", WorkflowTask: "per_host",
			CreatedAt: at(4), StartedAt: at(4), FinishedAt: at(7), UpdatedAt: at(7)},
		"01DONE": {ID: "01DONE", Action: "core.echo", Status: execution.Completed, CreatedAt: at(0), StartedAt: at(0), FinishedAt: at(1), UpdatedAt: at(1)},
		"01RUN":  {ID: "01RUN", Action: "core.local", Status: execution.Running, CreatedAt: at(0), StartedAt: at(0), UpdatedAt: at(0)},
	}
	run := func(wf, task, child, action string, st workflows.RunStatus, start, end int) workflows.Run {
		fin := at(end)
		return workflows.Run{WorkflowID: wf, Task: task, Attempt: 1, Status: st, ChildID: child, Action: action,
			ScheduledAt: at(start), FinishedAt: fin}
	}
	node := func(r workflows.Run) workflows.Node {
		x := xs[r.ChildID]
		return workflows.Node{Run: r, Child: &x}
	}
	wfx, subx := xs["01WF"], xs["01SUB"]
	hostRun := run("01SUB", "per_host", "01HOST", "core.ssh", workflows.Failed, 4, 7)
	hostRun.Item = &workflow.Item{Index: 1, Count: 3}
	prep := run("01WF", "prepare", "01PREP", "core.local", workflows.Succeeded, 1, 2)
	prep.ReusedFrom = "01OLDPREP"
	sub := node(run("01WF", "rollout", "01SUB", "ops.rollout", workflows.Failed, 3, 8))
	sub.Nested = &workflows.Tree{Execution: &subx, Workflow: workflows.Workflow{ID: "01SUB", Action: "ops.rollout", Status: execution.Failed},
		Tasks: []workflows.Node{node(hostRun)}}
	held := workflows.Run{WorkflowID: "01WF", Task: "notify", Attempt: 1, Status: workflows.Scheduled, Held: true, ScheduledAt: at(8), Action: "core.noop"}
	tree := workflows.Tree{Execution: &wfx, Workflow: workflows.Workflow{ID: "01WF", Action: "ops.deploy", Status: execution.Failed},
		Tasks: []workflows.Node{node(prep), sub, {Run: held}}}

	cfg := web.Config{
		API: http.NotFoundHandler(),
		ListExecutions: func(_ context.Context, flt executions.Filter) (executions.Page, error) {
			var page executions.Page
			for _, x := range xs {
				if x.Parent == flt.Parent {
					page.Items = append(page.Items, x)
				}
			}
			return page, nil
		},
		GetExecution: func(_ context.Context, id string) (executions.Execution, error) {
			if x, ok := xs[id]; ok {
				return x, nil
			}
			return executions.Execution{}, executions.ErrNotFound
		},
		ReadStream: func(context.Context, string) ([]eventstore.Recorded, error) { return nil, nil },
		RerunExecution: func(_ context.Context, id string, req httpapi.RerunRequest) (string, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if !xs[id].Status.Terminal() {
				return "", errNotFinished
			}
			if req.FromTask == "nope" {
				return "", &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: httpapi.CodeValidation, Field: "from_task",
					Message: `workflow ops.deploy has no task "nope"`}
			}
			o.reruns = append(o.reruns, fmt.Sprintf("%s from %q failed_items=%v by %s", id, req.FromTask, req.FailedItems, req.Actor))
			return "01NEW", nil
		},
		Classify: func(err error) *httpapi.Error {
			if errors.Is(err, errNotFinished) {
				return &httpapi.Error{Status: http.StatusConflict, Code: httpapi.CodeConflict, Message: err.Error()}
			}
			return nil
		},
		Auth: httpapi.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
			if p, ok := principals[token]; ok {
				return p, nil
			}
			return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrInvalidToken)
		}),
	}
	if withTree {
		cfg.GetWorkflow = func(_ context.Context, id string) (workflows.Tree, error) {
			if id != "01WF" {
				return workflows.Tree{}, workflows.ErrNotFound
			}
			return tree, nil
		}
	}
	o.srv = httptest.NewServer(web.New(cfg))
	t.Cleanup(o.srv.Close)
	return o
}

func TestRerunButtonByRoleWithCSRF(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	_, op := o.do(t, "GET", "/executions/01DONE", "tok-operator", nil)
	mustContain(t, "an operator's page of a finished action", op, `action="/executions/01DONE/rerun"`, `id="rerun"`)
	mustLack(t, "an action's page", op, `id="from_task"`)
	_, running := o.do(t, "GET", "/executions/01RUN", "tok-operator", nil)
	mustLack(t, "a running execution's page", running, `id="rerun"`)

	_, viewer := o.do(t, "GET", "/executions/01DONE", "tok-viewer", nil)
	mustLack(t, "a viewer's page", viewer, `id="rerun"`, "/rerun")
	resp, body := o.do(t, "POST", "/executions/01DONE/rerun", "tok-viewer", url.Values{"csrf": {o.csrfOf(t, "/executions/01DONE", "tok-viewer")}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "operator") {
		t.Fatalf("a viewer's re-run: %d, want 403 naming the role:\n%s", resp.StatusCode, body)
	}

	csrf := o.csrfOf(t, "/executions/01DONE", "tok-operator")
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}, {"csrf": {o.csrfOf(t, "/executions/01DONE", "tok-viewer")}}} {
		if resp, _ := o.do(t, "POST", "/executions/01DONE/rerun", "tok-operator", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a re-run with csrf %q: %d, want 403", form.Get("csrf"), resp.StatusCode)
		}
	}
	if resp, _ := o.do(t, "POST", "/executions/01DONE/rerun", "tok-operator", url.Values{"csrf": {csrf}}, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a re-run from another origin: %d, want 403", resp.StatusCode)
	}
	if got := o.rerunsAsked(); len(got) != 0 {
		t.Fatalf("refused forms re-ran %v", got)
	}

	resp, _ = o.do(t, "POST", "/executions/01DONE/rerun", "tok-operator", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/executions/01NEW" {
		t.Fatalf("an operator's re-run: %d to %q, want 303 to the new execution", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := o.rerunsAsked(), []string{`01DONE from "" failed_items=false by otto`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("re-runs %q, want %q", got, want)
	}

	// The new execution's page waits for it while the read model has not caught up.
	resp, page := o.do(t, "GET", "/executions/01NEW", "tok-operator", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a new execution the read model lacks: %d, want 404", resp.StatusCode)
	}
	mustContain(t, "the page of an execution not there yet", page, `id="missing"`, `data-watch="01NEW"`, `hx-get="/executions/01NEW"`)

	// The use case's refusals are shown on the execution's page, with the API's status.
	resp, page = o.do(t, "POST", "/executions/01RUN/rerun", "tok-operator", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("re-running a running execution: %d, want 409", resp.StatusCode)
	}
	mustContain(t, "the refused re-run's page", page, `id="rerun-error"`, "has not finished", `id="status">running`)
}

func TestFailedWorkflowRerunsFromATask(t *testing.T) {
	t.Parallel()
	for _, withTree := range []bool{true, false} {
		o := setupOps(t, withTree)
		_, page := o.do(t, "GET", "/executions/01WF", "tok-operator", nil)
		mustContain(t, fmt.Sprintf("a failed workflow's page (tree %v)", withTree), page, `id="rerun"`, `<select name="from_task" id="from_task">`,
			`<option value="prepare">prepare</option>`, `<option value="rollout">rollout</option>`, `name="failed_items"`)
	}
	o := setupOps(t, true)
	csrf := o.csrfOf(t, "/executions/01WF", "tok-operator")
	resp, _ := o.do(t, "POST", "/executions/01WF/rerun", "tok-operator", url.Values{"csrf": {csrf}, "from_task": {"rollout"}, "failed_items": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/executions/01NEW" {
		t.Fatalf("a re-run from a task: %d to %q, want 303 to the new execution", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := o.rerunsAsked(), []string{`01WF from "rollout" failed_items=true by otto`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("re-runs %q, want %q", got, want)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"csrf": {csrf}, "from_task": {"nope"}}, `has no task &#34;nope&#34;`},
		{url.Values{"csrf": {csrf}, "failed_items": {"1"}}, "name it"},
	} {
		resp, page := o.do(t, "POST", "/executions/01WF/rerun", "tok-operator", c.form)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("re-run %v: %d, want 422", c.form, resp.StatusCode)
		}
		mustContain(t, "the refused re-run's page", page, `id="rerun-error"`, c.want, `id="from_task"`)
	}
	if got := o.rerunsAsked(); len(got) != 1 {
		t.Fatalf("refused re-runs were asked for: %q", got)
	}
}

func TestWorkflowPageShowsTheNestedTree(t *testing.T) {
	t.Parallel()
	o := setupOps(t, true)
	resp, page := o.do(t, "GET", "/executions/01WF", "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the workflow: %d", resp.StatusCode)
	}
	mustContain(t, "the workflow's tree", page,
		`<a href="/executions/01PREP"><strong>prepare</strong></a>`, `<a class="status s-cancelled marker" href="/executions/01OLDPREP">reused</a>`,
		`<a href="/executions/01SUB"><strong>rollout</strong></a>`,
		`<strong>notify</strong>`, `held</span>`,
		`<a href="/executions/01HOST"><strong>per_host</strong></a>`, "item 1/3",
		`class="status s-completed">succeeded`, `class="status s-failed">failed`, "1s") // prepare took 1s
	// per_host is inside rollout's own list: a tree nested in the task's item.
	rollout := page[strings.Index(page, `<strong>rollout</strong>`):]
	if i, j := strings.Index(rollout, `<ol class="tasks tree">`), strings.Index(rollout, "per_host"); i < 0 || j < i || strings.Index(rollout, "notify") < j {
		t.Fatalf("per_host is not nested under rollout:\n%s", page)
	}

	// Without the tree's read model the page lists the children flat, as before.
	o = setupOps(t, false)
	_, page = o.do(t, "GET", "/executions/01WF", "tok-viewer", nil)
	mustLack(t, "the flat list", page, `class="tasks tree"`, "per_host")
	mustContain(t, "the flat list", page, `<a href="/executions/01PREP"><strong>prepare</strong> core.local</a>`)
}

// setupOverview is a dashboard whose overview charts the given counts per minute at now.
func setupOverview(t *testing.T, now time.Time, counts map[time.Time]map[execution.Status]int64) (*fixture, *[]time.Time) {
	t.Helper()
	var asked []time.Time
	cfg := web.Config{
		API:            http.NotFoundHandler(),
		ListExecutions: func(context.Context, executions.Filter) (executions.Page, error) { return executions.Page{}, nil },
		GetExecution: func(context.Context, string) (executions.Execution, error) {
			return executions.Execution{}, executions.ErrNotFound
		},
		ExecutionsPerMinute: func(_ context.Context, since, until time.Time) (map[time.Time]map[execution.Status]int64, error) {
			asked = append(asked, since, until)
			return counts, nil
		},
		Head: func(context.Context) (eventstore.Position, error) {
			return eventstore.Position{Major: 7, Minor: 42}, nil
		},
		Checkpoints: func(context.Context) (map[string]eventstore.Position, error) {
			return map[string]eventstore.Position{"executions": {Major: 7, Minor: 42}, "workflows": {Major: 7, Minor: 30}, "relay": {Major: 7, Minor: 42}}, nil
		},
		Ready: func(context.Context) (bool, map[string]string) {
			return false, map[string]string{"executions": "ok", "workflows": "behind the log by 45s (more than 30s) at 7-30", "relay": "ok", "database": "ok"}
		},
		Now: func() time.Time { return now },
		Auth: httpapi.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
			if p, ok := principals[token]; ok {
				return p, nil
			}
			return auth.Principal{}, fmt.Errorf("%w: unknown token", auth.ErrInvalidToken)
		}),
	}
	f := &fixture{srv: httptest.NewServer(web.New(cfg))}
	t.Cleanup(f.srv.Close)
	return f, &asked
}

func TestOverviewChartsExecutionsPerMinuteByStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 30, 25, 0, time.UTC)
	first := time.Date(2026, 12, 1, 9, 1, 0, 0, time.UTC) // the window's first minute: 9:01 to 9:31
	f, asked := setupOverview(t, now, map[time.Time]map[execution.Status]int64{
		first.Add(29 * time.Minute): {execution.Completed: 3, execution.Failed: 1}, // the tallest: 4 a minute
		first.Add(10 * time.Minute): {execution.Running: 2},
	})
	resp, page := f.do(t, "GET", "/", "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	if want := []time.Time{first, first.Add(30 * time.Minute)}; fmt.Sprint(*asked) != fmt.Sprint(want) {
		t.Fatalf("asked for %v, want the half hour %v", *asked, want)
	}
	// Columns 10 wide, 100 high at 4 a minute, on a baseline at y=114: completed at the
	// bottom (75 high), failed on top of it (25), running's two in minute 10 (50).
	mustContain(t, "the chart", page, `<svg class="chart" id="chart" viewBox="0 0 300 130"`, "6 executions created", "at most 4 in a minute",
		`<rect x="291" y="39" width="8" height="75" fill="#2da44e"><title>09:30 UTC: 3 completed</title></rect>`,
		`<rect x="291" y="14" width="8" height="25" fill="#cf222e"><title>09:30 UTC: 1 failed</title></rect>`,
		`<rect x="101" y="64" width="8" height="50" fill="#0969da"><title>09:11 UTC: 2 running</title></rect>`,
		">09:01</text>", ">09:30</text>", "4/min", `<a href="/executions?status=completed">completed</a> 3`)
	if n := strings.Count(page, "<rect x="); n != 3 {
		t.Fatalf("the chart has %d bars, want 3:\n%s", n, page)
	}
	mustLack(t, "the chart", page, "style=")

	f, _ = setupOverview(t, now, nil)
	_, page = f.do(t, "GET", "/", "tok-viewer", nil)
	mustContain(t, "an empty half hour", page, `id="chart-empty"`)
	mustLack(t, "an empty half hour", page, `id="chart"`)
}

func TestAuditPageShowsTheHeadCheckpointsAndHowToVerify(t *testing.T) {
	t.Parallel()
	f, _ := setupOverview(t, time.Now(), nil)
	_, home := f.do(t, "GET", "/", "tok-viewer", nil)
	mustContain(t, "the navigation", home, `href="/audit"`)
	resp, page := f.do(t, "GET", "/audit", "tok-viewer", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit: %d\n%s", resp.StatusCode, page)
	}
	mustContain(t, "the audit page", page, `<code id="log-head">7-42</code>`,
		"<tr><td>executions</td><td><code>7-42</code></td><td>no</td>", "caught up",
		"<tr><td>workflows</td><td><code>7-30</code></td><td>yes</td>", "behind the log by 45s",
		"<tr><td>relay</td>", "database</span> ok",
		"<code>attune audit verify</code>", "<code>attune replay --until 7-42 --into SCHEMA</code>", "<code>attune projections rebuild NAME</code>")
	if resp, _ := f.do(t, "GET", "/audit", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an anonymous GET /audit: %d, want 303 to the login", resp.StatusCode)
	}
}
