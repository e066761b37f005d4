package workflowdef_test

import (
	"encoding/json"
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
	for name, tc := range map[string]struct{ def, want string }{
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
		"an unknown key": {`{"tasks": {"a": {"action": "x.y", "nxt": []}}}`, `unknown field "nxt"`},
		"a timeout no duration holds": {`{"tasks": {"a": {"action": "x.y", "timeout": 1e300}}}`,
			"tasks.a: timeout and delay must be at most 31536000 seconds"},
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
