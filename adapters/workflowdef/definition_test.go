package workflowdef_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/execution"
)

const example = `{
  "version": 1,
  "vars": {"greeting": "hello"},
  "tasks": {
    "fetch": {"action": "examples.get_hosts", "input": {"region": "{{ parameters.region }}"},
      "next": [
        {"when": "{{ succeeded() }}", "publish": {"hosts": "{{ result().hosts }}"}, "do": ["deploy"]},
        {"when": "{{ failed() }}", "do": "report_failure"}]},
    "deploy": {"action": "examples.deploy_host", "with": {"items": "{{ vars.hosts }}", "concurrency": 5},
      "input": {"host": "{{ item }}", "index": "{{ index }}"},
      "retry": {"count": 2, "delay": 1, "backoff": "exponential"}, "timeout": 60,
      "next": [{"do": ["summarize"]}]},
    "summarize": {"join": "all", "action": "core.echo",
      "input": {"message": "{{ vars.greeting }}, {{ length(vars.hosts) }} hosts"}},
    "report_failure": {"action": "core.echo", "input": {"message": "fetch failed"}}
  },
  "output": {"hosts": "{{ vars.hosts }}"}
}`

func TestParseTheIssueExample(t *testing.T) {
	t.Parallel()
	w, err := workflowdef.Parse(json.RawMessage(example))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Start(), ","); got != "fetch" {
		t.Errorf("start tasks = %s, want fetch", got)
	}
	deploy, _ := w.Task("deploy")
	if !deploy.WithItems() || deploy.Concurrency != 5 || deploy.Retry.Count != 2 || deploy.Timeout != time.Minute {
		t.Errorf("deploy = %+v", deploy)
	}
	if got := deploy.Retry.After(3); got != 2*time.Second {
		t.Errorf("exponential backoff before attempt 3 = %v, want 2s", got)
	}
	join, _ := w.Task("summarize")
	if join.Join != 1 {
		t.Errorf("summarize joins %d, want 1 (all of its one inbound task)", join.Join)
	}

	fetch, _ := w.Task("fetch")
	s := workflowdef.Scope{Parameters: map[string]any{"region": "eu"}, Vars: map[string]any{"greeting": "hello"}}
	in, err := fetch.Input(s)
	if err != nil || string(in) != `{"region":"eu"}` {
		t.Errorf("fetch input = %s, %v", in, err)
	}
	s.Status, s.Result = execution.Completed, map[string]any{"hosts": []any{"a", "b"}}
	for i, want := range []bool{true, false} {
		holds, err := fetch.Next[i].Holds(s)
		if err != nil || holds != want {
			t.Errorf("transition %d holds = %t, %v; want %t", i, holds, err, want)
		}
	}
	pub, err := fetch.Next[0].Publish(s)
	if err != nil || string(pub["hosts"]) != `["a","b"]` {
		t.Errorf("published = %s, %v", pub, err)
	}
	s.Vars["hosts"] = []any{"a", "b"}
	msg, err := join.Input(s)
	if err != nil || string(msg) != `{"message":"hello, 2 hosts"}` {
		t.Errorf("summarize input = %s, %v", msg, err)
	}
	items, err := deploy.Items(s)
	if err != nil || len(items) != 2 {
		t.Errorf("items = %v, %v", items, err)
	}
	s.Item, s.Index = "b", 1
	in, err = deploy.Input(s)
	if err != nil || string(in) != `{"host":"b","index":1}` {
		t.Errorf("deploy input = %s, %v", in, err)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	var many strings.Builder
	many.WriteString(`{"tasks": {`)
	for i := range workflowdef.MaxTasks + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"t%d": {"action": "x.y"}`, i)
	}
	many.WriteString("}}")
	for name, tc := range map[string]struct{ def, want string }{
		"more tasks than a workflow may have": {many.String(), "tasks: 1001 tasks, more than the 1000 a workflow may have"},
		"an unknown do target": {`{"tasks": {"a": {"action": "x.y", "next": [{"do": ["b"]}]}}}`,
			`tasks.a.next[0].do: unknown task "b"`},
		"an unreachable task": {`{"tasks": {"a": {"action": "x.y"}, "b": {"action": "x.y", "next": [{"do": "c"}]}, "c": {"action": "x.y", "next": [{"do": "b"}]}}}`,
			"tasks.b: no path from a start task reaches it"},
		"a task without action": {`{"tasks": {"a": {}}}`, "tasks.a.action: missing"},
		"no tasks":              {`{"tasks": {}}`, "a workflow needs at least one task"},
		"a join beyond its inbound tasks": {`{"tasks": {"a": {"action": "x.y", "next": [{"do": "b"}]}, "b": {"action": "x.y", "join": 2}}}`,
			"tasks.b.join: join 2, but 1 tasks lead to it"},
		"an unknown backoff": {`{"tasks": {"a": {"action": "x.y", "retry": {"count": 1, "backoff": "fibonacci"}}}}`,
			`tasks.a.retry.backoff: unknown backoff "fibonacci"`},
		"a bad expression": {`{"tasks": {"a": {"action": "x.y", "input": {"m": "{{ parameters. }}"}}}}`,
			"tasks.a.input.m"},
		"an unknown name": {`{"tasks": {"a": {"action": "x.y", "input": {"m": "{{ event.payload }}"}}}}`,
			"tasks.a.input.m"},
		"an unknown key": {`{"tasks": {"a": {"action": "x.y", "nxt": []}}}`, `tasks.a.nxt: unknown field (want one of action,`},
		// Every shape is checked at load, so nothing the loader accepts can stall a run.
		"vars as a list":         {`{"vars": [{"a": 1}], "tasks": {"a": {"action": "x.y"}}}`, "vars: want a mapping of name: value, got a list"},
		"vars as a string":       {`{"vars": "{{ parameters }}", "tasks": {"a": {"action": "x.y"}}}`, "vars: want a mapping of name: value, got a string"},
		"output as a list":       {`{"output": [{"a": 1}], "tasks": {"a": {"action": "x.y"}}}`, "output: want a mapping of name: value, got a list"},
		"input as a list":        {`{"tasks": {"a": {"action": "x.y", "input": ["m"]}}}`, "tasks.a.input: want a mapping of name: value, got a list"},
		"publish as a list":      {`{"tasks": {"a": {"action": "x.y", "next": [{"publish": [{"x": 1}]}]}}}`, "tasks.a.next[0].publish: want a mapping of name: value, got a list"},
		"next as a mapping":      {`{"tasks": {"a": {"action": "x.y", "next": {"do": "a"}}}}`, "tasks.a.next: want a list of transitions (when, publish, do), got a mapping"},
		"a transition's typo":    {`{"tasks": {"a": {"action": "x.y", "next": [{"dos": "a"}]}}}`, "tasks.a.next[0].dos: unknown field (want one of when, publish, do)"},
		"when not a string":      {`{"tasks": {"a": {"action": "x.y", "next": [{"when": true}]}}}`, "tasks.a.next[0].when: want a string, got true/false"},
		"do as a number":         {`{"tasks": {"a": {"action": "x.y", "next": [{"do": 3}]}}}`, "tasks.a.next[0].do: want a task name or a list of them"},
		"with's typo":            {`{"tasks": {"a": {"action": "x.y", "with": {"item": "{{ vars.x }}"}}}}`, "tasks.a.with.item: unknown field (want one of items, concurrency)"},
		"with.items as text":     {`{"tasks": {"a": {"action": "x.y", "with": {"items": "vars.hosts"}}}}`, `tasks.a.with.items: want a {{ expression }} giving a list, or a list, got the text "vars.hosts"`},
		"with.items missing":     {`{"tasks": {"a": {"action": "x.y", "with": {"concurrency": 2}}}}`, "tasks.a.with.items: missing"},
		"a fractional window":    {`{"tasks": {"a": {"action": "x.y", "with": {"items": [1], "concurrency": 1.5}}}}`, "tasks.a.with.concurrency: want a whole number, got 1.5"},
		"retry as a number":      {`{"tasks": {"a": {"action": "x.y", "retry": 3}}}`, "tasks.a.retry: want a mapping of count, delay, backoff, got a number"},
		"retry's typo":           {`{"tasks": {"a": {"action": "x.y", "retry": {"cout": 3}}}}`, "tasks.a.retry.cout: unknown field (want one of count, delay, backoff)"},
		"a negative retry count": {`{"tasks": {"a": {"action": "x.y", "retry": {"count": -1}}}}`, "tasks.a.retry.count: must not be negative, got -1"},
		"a timeout as text":      {`{"tasks": {"a": {"action": "x.y", "timeout": "10s"}}}`, "tasks.a.timeout: want a number, got a string"},
		"a join of nonsense":     {`{"tasks": {"a": {"action": "x.y", "next": [{"do": "b"}]}, "b": {"action": "x.y", "join": "some"}}}`, `tasks.b.join: want all or a number, got "some"`},
		"an action as a number":  {`{"tasks": {"a": {"action": 3}}}`, "tasks.a.action: want a string, got a number"},
		"a task as a string":     {`{"tasks": {"a": "x.y"}}`, "tasks.a: want a mapping of action, input, next …, got a string"},
		"tasks as a list":        {`{"tasks": [{"a": {"action": "x.y"}}]}`, "tasks: want a mapping of task name: task, got a list"},
		"a top-level typo":       {`{"task": {"a": {"action": "x.y"}}}`, "task: unknown field (want one of version, description, vars, tasks, output)"},
		"a timeout no duration holds": {`{"tasks": {"a": {"action": "x.y", "timeout": 1e300}}}`,
			"tasks.a.timeout: must be at most 31536000 seconds (a year)"},
		"a retry delay past a year": {`{"tasks": {"a": {"action": "x.y", "retry": {"count": 1, "delay": 1e12}}}}`,
			"tasks.a.retry.delay: must be at most 31536000 seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := workflowdef.Parse(json.RawMessage(tc.def))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// with.items may be a literal list as well as an expression giving one.
func TestWithItemsMayBeALiteralList(t *testing.T) {
	t.Parallel()
	w, err := workflowdef.Parse(json.RawMessage(`{"tasks": {"a": {"action": "x.y", "with": {"items": ["a", "b"]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.Task("a")
	items, err := a.Items(workflowdef.Scope{})
	if err != nil || len(items) != 2 || items[1] != "b" {
		t.Fatalf("items = %v, %v; want [a b]", items, err)
	}
}

// A long delay times many retries saturates instead of wrapping round to a negative wait.
func TestRetryBackoffNeverGoesNegative(t *testing.T) {
	t.Parallel()
	for _, backoff := range workflowdef.Backoffs {
		r := workflowdef.Retry{Count: 100, Delay: 365 * 24 * time.Hour, Backoff: backoff}
		for attempt := 2; attempt <= 101; attempt++ {
			if d := r.After(attempt); d < r.Delay {
				t.Fatalf("%s backoff before attempt %d: %v, less than the delay %v", backoff, attempt, d, r.Delay)
			}
		}
	}
}
