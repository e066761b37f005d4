package workflowdef

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// yamlish is a definition as the loader hands it: the file's YAML as JSON.
func mustOrquesta(t *testing.T, src string) *Workflow {
	t.Helper()
	w, err := ParseOrquesta(json.RawMessage(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return w
}

func TestOrquestaInputDefaultsAndOrderedVars(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"version": 1.0, "input": ["who", {"greeting": "hello"}, {"count": 3}],
	  "vars": [{"a": 1}, {"b": [1, 2]}],
	  "tasks": {"t1": {"action": "core.echo message=\"hi there\" n=2 flag=True"}},
	  "output": [{"x": "done"}]}`)
	raw, err := w.Vars(Scope{Parameters: map[string]any{"who": "ann", "count": 5}})
	if err != nil {
		t.Fatal(err)
	}
	var ctx map[string]any
	if err := json.Unmarshal(raw, &ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"who": "ann", "greeting": "hello", "count": 5.0, "a": 1.0, "b": []any{1.0, 2.0},
		"st2": map[string]any{"action": "", "action_execution_id": "", "pack": "", "workflow_execution_id": ""}}
	if !reflect.DeepEqual(ctx, want) {
		t.Errorf("initial context = %v, want %v", ctx, want)
	}
	t1, _ := w.Task("t1")
	in, err := t1.Input(Scope{})
	if err != nil || string(in) != `{"flag":true,"message":"hi there","n":2}` {
		t.Errorf("inline input = %s, %v", in, err)
	}
	out, err := w.Output(Scope{})
	if err != nil || string(out) != `{"output":{"x":"done"}}` {
		t.Errorf("output = %s, %v; want Orquesta's {output: …}", out, err)
	}
	failed := w.FailedResult(Scope{}, "task t1 failed", []TaskError{{Task: "t1", Message: "task t1 failed", Result: map[string]any{"code": 1}}})
	if string(failed) != `{"errors":[{"message":"task t1 failed","result":{"code":1},"task_id":"t1","type":"error"}],"output":{"x":"done"}}` {
		t.Errorf("failed result = %s", failed)
	}
	if failed := w.FailedResult(Scope{}, "vars: no x", nil); string(failed) != `{"errors":[{"message":"vars: no x","type":"error"}],"output":{"x":"done"}}` {
		t.Errorf("failed result without a task = %s", failed)
	}
}

func TestOrquestaGraphCommandsAndJoin(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"tasks": {
	  "a": {"action": "core.noop", "next": [{"do": "b, c"}, {"when": "x", "do": ["noop"]}]},
	  "b": {"action": "core.noop", "next": [{"do": ["d"]}]},
	  "c": {"next": [{"do": "d"}, {"do": "fail"}, {"do": "continue"}, {"do": "retry"}]},
	  "d": {"join": "all", "action": "core.noop", "retry": {"count": 2, "delay": 1}}}}`)
	if got := w.Start(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("start = %v", got)
	}
	d, _ := w.Task("d")
	if d.Join != 2 || d.Retry.Count != 2 {
		t.Errorf("d = join %d, retry %+v", d.Join, d.Retry)
	}
	c, _ := w.Task("c")
	if c.Action != "" {
		t.Errorf("c has action %q, want none", c.Action)
	}
	var next []string
	for _, tr := range c.Next {
		next = append(next, w.Targets("c", tr, execution.Failed)...)
	}
	if !reflect.DeepEqual(next, []string{"d", "fail", "c"}) {
		t.Errorf("c's targets = %v, want d, fail, c (continue drops out, retry is c itself)", next)
	}
	if got := w.Targets("c", c.Next[3], execution.Completed); len(got) != 0 {
		t.Errorf("retry with no when after a run that completed: %v, want nothing", got)
	}
	if !w.Fails(next) || !w.Command("noop") || w.Command("d") {
		t.Error("fail, noop are commands; d is not")
	}
	again, err := d.Retries(Scope{}, execution.Failed, nil)
	if err != nil || !again {
		t.Errorf("a failed run retries without retry.when: %v, %v", again, err)
	}
}

func TestOrquestaRefusals(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ src, want string }{
		"reserved name":   {`{"tasks": {"noop": {"action": "core.noop"}}}`, `tasks.noop: the task name "noop" is reserved`},
		"undefined task":  {`{"tasks": {"a": {"action": "core.noop", "next": [{"do": "b"}]}}}`, `tasks.a.next[0].do: the task "b" is not defined`},
		"unknown key":     {`{"tasks": {"a": {"action": "core.noop", "timeout": 3}}}`, `tasks.a.timeout: unknown field`},
		"unknown top key": {`{"tasks": {"a": {"action": "core.noop"}}, "env": 1}`, `env: unknown field`},
		"version 2":       {`{"version": 2.0, "tasks": {"a": {"action": "core.noop"}}}`, `version: Orquesta's version is 1.0, got 2`},
		"no count":        {`{"tasks": {"a": {"action": "core.noop", "retry": {"delay": 1}}}}`, `tasks.a.retry.count: missing`},
		"inline and input": {`{"tasks": {"a": {"action": "core.echo message=\"hi\"", "input": {"message": "x"}}}}`,
			`tasks.a.input: the action's inline parameters and input are both given`},
		"action expr":          {`{"tasks": {"a": {"action": "<% ctx().ref %>"}}}`, `tasks.a.action: an action chosen by an expression`},
		"items without action": {`{"tasks": {"a": {"with": "x in <% ctx().l %>"}}}`, `tasks.a.action: a with-items task needs an action`},
		"items literal":        {`{"tasks": {"a": {"action": "core.noop", "with": {"items": "x in y"}}}}`, `tasks.a.with.items: want "x in <% expression %>"`},
		"vars as mapping":      {`{"vars": {"a": 1}, "tasks": {"a": {"action": "core.noop"}}}`, `vars: want a list of one-key mappings`},
		"two keys":             {`{"vars": [{"a": 1, "b": 2}], "tasks": {"a": {"action": "core.noop"}}}`, `vars[0]: want one key`},
		"twice":                {`{"output": [{"a": 1}, {"a": 2}], "tasks": {"a": {"action": "core.noop"}}}`, `output[1]: "a" is listed twice`},
		"join too big":         {`{"tasks": {"a": {"action": "core.noop", "next": [{"do": "b"}]}, "b": {"action": "core.noop", "join": 2}}}`, `tasks.b.join: join 2, but 1 tasks lead to it`},
		"no start":             {`{"tasks": {"a": {"action": "core.noop", "next": [{"do": "a"}]}}}`, `no start task`},
		"input without action": {`{"tasks": {"a": {"input": {"x": 1}}}}`, `tasks.a.input: a task without an action takes no input`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseOrquesta(json.RawMessage(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEnvelopeRoutesTheDialect(t *testing.T) {
	t.Parallel()
	raw, err := Wrap(DialectOrquesta, json.RawMessage(`{"tasks": {"a": {"action": "core.noop"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Parse(raw)
	if err != nil || w.Dialect() != DialectOrquesta {
		t.Fatalf("Parse(wrapped) = %v, %v", w, err)
	}
	// Attune's own dialect never reads an envelope: its keys are unknown fields there.
	if _, err := ParseNative(raw); err == nil || !strings.Contains(err.Error(), "dialect: unknown field") {
		t.Errorf("ParseNative(wrapped) = %v, want dialect refused", err)
	}
}

func TestInlineParams(t *testing.T) {
	t.Parallel()
	got := parseInline(`cmd="echo a b" n=-1.5 ok=false list=[1, 2] expr=<% ctx().x %> j={{ ctx('y') }} q='it' none=null`)
	want := map[string]any{"cmd": "echo a b", "n": -1.5, "ok": false, "list": []any{1.0, 2.0}, "expr": "<% ctx().x %>", "j": "{{ ctx('y') }}", "q": "it", "none": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseInline = %#v\nwant %#v", got, want)
	}
}

func TestBindItem(t *testing.T) {
	t.Parallel()
	if got := bindItem([]string{"x", "y"}, []any{1, 2}); !reflect.DeepEqual(got, map[string]any{"x": 1, "y": 2}) {
		t.Errorf("x, y in zip = %v", got)
	}
	if got := bindItem([]string{"x"}, "a"); !reflect.DeepEqual(got, map[string]any{"x": "a"}) {
		t.Errorf("x in … = %v", got)
	}
	if got := bindItem(nil, "a"); got != "a" {
		t.Errorf("no keys = %v", got)
	}
}

func TestActionChain(t *testing.T) {
	t.Parallel()
	raw, _ := Wrap(DialectActionChain, json.RawMessage(`{"vars": {"base": "/tmp"}, "default": "c1", "chain": [
	  {"name": "c0", "ref": "core.noop"},
	  {"name": "c1", "ref": "core.local", "params": {"cmd": "true"}, "on-success": "c2", "on-failure": "c3", "publish": {"p": "x"}},
	  {"name": "c2", "ref": "core.echo", "parameters": {"message": "hi"}, "on-success": "c0"},
	  {"name": "c3", "ref": "core.noop"}]}`))
	w, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w.Start(), []string{"c1"}) {
		t.Errorf("start = %v, want the default node", w.Start())
	}
	c1, _ := w.Task("c1")
	fired := func(status execution.Status) []string {
		var out []string
		for _, tr := range c1.Next {
			if ok, err := tr.Holds(Scope{Status: status}); err != nil || ok {
				out = append(out, tr.Do...)
			}
		}
		return out
	}
	if got := fired(execution.Completed); !reflect.DeepEqual(got, []string{"c2"}) {
		t.Errorf("on success: %v", got)
	}
	if got := fired(execution.Failed); !reflect.DeepEqual(got, []string{"c3"}) {
		t.Errorf("on failure: %v", got)
	}
	if c2, _ := w.Task("c2"); c2.input == nil {
		t.Errorf("c2's parameters (StackStorm's name for params) were not read")
	}
	vars, err := w.Vars(Scope{})
	if err != nil || string(vars) != `{"base":"/tmp"}` {
		t.Errorf("vars = %s, %v", vars, err)
	}
	for src, want := range map[string]string{
		`{"chain": [{"name": "a", "ref": "core.noop", "on-success": "b"}]}`:                    `chain[0].on-success: no node "b"`,
		`{"chain": [{"name": "a", "ref": "core.noop"}, {"name": "b", "ref": "core.noop"}]}`:    `node "b": no path from the default node "a"`,
		`{"chain": [{"name": "a", "ref": "core.noop", "notify": {}}]}`:                         `chain[0].notify: unknown field`,
		`{"chain": [{"name": "a"}], "default": "z"}`:                                           `default: no node "z"`,
		`{"chain": [{"name": "a", "ref": "core.noop", "params": {}, "parameters": {"x": 1}}]}`: `chain[0].params: either params or parameters, not both`,
	} {
		if _, err := ParseActionChain(json.RawMessage(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}

func TestInlineParamsUnreadable(t *testing.T) {
	t.Parallel()
	_, err := ParseOrquesta(json.RawMessage(`{"tasks": {"a": {"action": "core.echo message=hi there"}}}`))
	if err == nil || !strings.Contains(err.Error(), `tasks.a.action: cannot read "message=hi there" as inline parameters`) {
		t.Errorf("error = %v", err)
	}
}

func TestOrquestaJinjaEvaluation(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"input": ["n", {"greeting": "{{ 'hello ' ~ ctx().n }}"}],
	  "vars": [{"twice": "{{ ctx().n * 2 }}"}, {"thrice": "{{ ctx('twice') + ctx().n }}"}],
	  "tasks": {
	    "each": {"with": {"items": "h, p in {{ ctx().pairs }}", "concurrency": "{{ ctx().n - 1 }}"}, "action": "core.echo",
	      "input": {"message": "{{ item('h') }}:{{ item('p') }}"}, "delay": "{{ ctx().n }}",
	      "retry": {"when": "{{ result().code }}", "count": "{{ ctx().n }}", "delay": "{{ ctx().twice }}"},
	      "next": [{"when": "{{ result() }}", "publish": [{"a": "{{ result() | length }}"}, {"b": "{{ ctx().a + 1 }}"}], "do": "read"}]},
	    "read": {"action": "core.echo", "input": {"message": "{{ task('each').result[0] }}", "token": "{{ st2kv('system.tok', true) }}",
	      "mixed": "x{{ st2kv('system.tok') }}"}}},
	  "output": [{"seen": "{{ ctx().b }}"}]}`)
	raw, err := w.Vars(Scope{Parameters: map[string]any{"n": 3}, Execution: "01X", Action: "p.flow"})
	if err != nil || string(raw) != `{"greeting":"hello 3","n":3,"st2":{"action":"p.flow","action_execution_id":"01X","pack":"p","workflow_execution_id":"01X"},"thrice":9,"twice":6}` {
		t.Fatalf("initial context = %s, %v", raw, err)
	}
	var ctx map[string]any
	_ = json.Unmarshal(raw, &ctx)
	s := Scope{Vars: ctx, Item: []any{"web", 80}}
	each, _ := w.Task("each")
	in, err := each.Input(s)
	if err != nil || string(in) != `{"message":"web:80"}` {
		t.Errorf("item input = %s, %v", in, err)
	}
	if rt, err := each.RetryIn(s); err != nil || rt.Count != 3 || rt.Delay != 6*time.Second {
		t.Errorf("retry = %+v, %v; want count 3, delay 6s", rt, err)
	}
	if n, err := each.ConcurrencyIn(s); err != nil || n != 2 {
		t.Errorf("concurrency = %d, %v; want 2", n, err)
	}
	if d, err := each.DelayIn(s); err != nil || d != 3*time.Second {
		t.Errorf("delay = %v, %v", d, err)
	}
	if again, err := each.Retries(s, execution.Completed, map[string]any{"code": 0}); err != nil || again {
		t.Errorf("retry when code 0: %v, %v; want no retry (0 is false)", again, err)
	}
	if again, err := each.Retries(s, execution.Completed, map[string]any{"code": 2}); err != nil || !again {
		t.Errorf("retry when code 2: %v, %v; want a retry", again, err)
	}
	s.Status, s.Result = execution.Completed, []any{"x", "y"}
	tr := each.Next[0]
	if ok, err := tr.Holds(s); err != nil || !ok {
		t.Errorf("when a non-empty list: %v, %v", ok, err)
	}
	pub, err := tr.Publish(s)
	if err != nil || string(pub["a"]) != "2" || string(pub["b"]) != "3" {
		t.Errorf("publish = %v, %v; want a=2 then b=a+1=3", pub, err)
	}
	read, _ := w.Task("read")
	members := read.InputKV()
	if m := members["token"]; m.Whole == nil || m.Whole.Name != "tok" {
		t.Errorf("token reads %+v, want the whole key system.tok", m)
	}
	if m := members["mixed"]; m.Whole != nil || len(m.Refs) != 1 {
		t.Errorf("mixed reads %+v, want system.tok inside a larger value", m)
	}
	if refs := w.KVRefs(); len(refs) != 1 || refs[0].Name != "tok" {
		t.Errorf("KVRefs = %v", refs)
	}
	s.Results = map[string]any{"each": []any{"first"}}
	s.KV = map[string]any{"system": map[string]any{"tok": "s3cret"}, "pack": map[string]any{}}
	in, err = read.Input(s)
	if err != nil || !strings.Contains(string(in), `"message":"first"`) || !strings.Contains(string(in), `"token":"s3cret"`) {
		t.Errorf("read input = %s, %v", in, err)
	}
	_, err = read.Input(Scope{Vars: ctx})
	if err == nil || !strings.Contains(err.Error(), `task "each" has not run yet`) {
		t.Errorf("reading a task that has not run: %v", err)
	}
}

func TestActionChainJinja(t *testing.T) {
	t.Parallel()
	w, err := ParseActionChain(json.RawMessage(`{"vars": {"dir": "/tmp/{{ who }}"}, "chain": [
	  {"name": "a", "ref": "core.echo", "params": {"message": "{{ who }} in {{ dir }}"}, "publish": {"said": "{{ a.stdout }}"}, "on-success": "b"},
	  {"name": "b", "ref": "core.echo", "params": {"message": "{{ said }} / {{ __results.a.stdout }}"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.Vars(Scope{Parameters: map[string]any{"who": "ann"}})
	if err != nil || string(raw) != `{"dir":"/tmp/ann"}` {
		t.Fatalf("vars = %s, %v", raw, err)
	}
	s := Scope{Parameters: map[string]any{"who": "ann"}, Vars: map[string]any{"dir": "/tmp/ann"}}
	a, _ := w.Task("a")
	if in, err := a.Input(s); err != nil || string(in) != `{"message":"ann in /tmp/ann"}` {
		t.Errorf("a's params = %s, %v", in, err)
	}
	s.Status, s.Result, s.Results = execution.Completed, map[string]any{"stdout": "hi"}, map[string]any{"a": map[string]any{"stdout": "hi"}}
	pub, err := a.Next[0].Publish(s)
	if err != nil || string(pub["said"]) != `"hi"` {
		t.Errorf("publish = %v, %v", pub, err)
	}
	s.Vars["said"] = "hi"
	b, _ := w.Task("b")
	if in, err := b.Input(s); err != nil || string(in) != `{"message":"hi / hi"}` {
		t.Errorf("b's params = %s, %v", in, err)
	}
	out, err := w.Output(s)
	if err != nil || !strings.Contains(string(out), `"published":{"dir":"/tmp/ann","said":"hi"}`) {
		t.Errorf("chain result = %s, %v", out, err)
	}
}

func TestCoreAskTakesStackStormsParameters(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"tasks": {"ask": {"action": "core.ask", "input": {
	  "schema": {"type": "object", "properties": {"approved": {"type": "boolean", "required": true}, "why": {"type": "string", "required": false}}},
	  "users": ["ann"], "roles": [], "route": "", "ttl": 2}}}}`)
	ask, _ := w.Task("ask")
	in, err := ask.Input(Scope{})
	want := `{"schema":{"properties":{"approved":{"type":"boolean"},"why":{"type":"string"}},"required":["approved"],"type":"object"},"tokens":["ann"],"ttl":120}`
	if err != nil || string(in) != want {
		t.Errorf("core.ask input = %s, %v\nwant %s", in, err, want)
	}
	if got := w.TaskResult("ask", map[string]any{"approved": true}); !reflect.DeepEqual(got, map[string]any{"response": map[string]any{"approved": true}}) {
		t.Errorf("core.ask's result reads as %v, want {response: answer}", got)
	}
}

func TestCoreAskWithoutASchemaAsksStackStormsQuestion(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"tasks": {"ask": {"action": "core.ask", "input": {"route": "ops"}, "next": [{"do": "bare"}]}, "bare": {"action": "core.ask"}}}`)
	for _, name := range []string{"ask", "bare"} {
		ask, _ := w.Task(name)
		in, err := ask.Input(Scope{})
		if err != nil || !strings.Contains(string(in), `"required":["continue"]`) {
			t.Errorf("%s: core.ask input = %s, %v; want StackStorm's continue question", name, in, err)
		}
	}
}

func TestOrquestaTaskStatus(t *testing.T) {
	t.Parallel()
	w := mustOrquesta(t, `{"tasks": {"a": {"action": "core.noop", "next": [{"do": "b"}]},
	  "b": {"action": "core.echo", "input": {"message": "{{ task_status('a') }} {{ task('a').status }} {{ task_status('b') }}"}}}}`)
	b, _ := w.Task("b")
	in, err := b.Input(Scope{Results: map[string]any{"a": nil}, Statuses: map[string]execution.Status{"a": execution.Timeout}})
	if err != nil || string(in) != `{"message":"failed failed None"}` {
		t.Errorf("input = %s, %v", in, err)
	}
}

// A with-items task's result reads as StackStorm reads it: result() in its own transitions is
// the list of the items' results; task(name).result is {items: [{status, result}]}, so that
// StackStorm's own `task(task1).result.items.select($.result.stdout)` works; task() names the
// task.
func TestOrquestaWithItemsResultShapes(t *testing.T) {
	t.Parallel()
	raw, err := Wrap(DialectOrquesta, json.RawMessage(`{"version": 1.0, "input": ["xs"],
	  "tasks": {"task1": {"with": {"items": "x in <% ctx(xs) %>"}, "action": "core.echo message=<% item(x) %>",
	    "next": [{"publish": [{"list": "<% result() %>"}, {"me": "<% task().task_id %>"}]}]}},
	  "output": [{"items": "<% task(task1).result.items.select($.result.stdout) %>"},
	             {"statuses": "<% task(task1).result.items.select($.status) %>"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	stored := w.TaskResult("task1", Items{
		{Status: execution.Completed, Result: map[string]any{"stdout": "a"}},
		{Status: execution.Failed, Result: map[string]any{"stdout": "b"}},
	})
	task1, _ := w.Task("task1")
	s := Scope{Vars: map[string]any{"xs": []any{"a", "b"}}, Task: "task1", Status: execution.Completed, Result: stored,
		Results: map[string]any{"task1": stored}}
	pub, err := task1.Next[0].Publish(s)
	if err != nil || string(pub["list"]) != `[{"stdout":"a"},{"stdout":"b"}]` || string(pub["me"]) != `"task1"` {
		t.Fatalf("publish = %s %s, %v", pub["list"], pub["me"], err)
	}
	out, err := w.Output(s)
	if err != nil || !strings.Contains(string(out), `"items":["a","b"]`) || !strings.Contains(string(out), `"statuses":["succeeded","failed"]`) {
		t.Fatalf("output = %s, %v", out, err)
	}
	if attune := (&Workflow{}).TaskResult("t", Items{{Status: execution.Completed, Result: 1.0}}); !reflect.DeepEqual(attune, []any{1.0}) {
		t.Fatalf("Attune's with-items result = %v, want the list of results", attune)
	}
}
