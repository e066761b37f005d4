package workflow_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
)

// orquesta wraps an Orquesta definition as the pack loader registers it.
func orquesta(t *testing.T, def string) string {
	t.Helper()
	raw, err := workflowdef.Wrap(workflowdef.DialectOrquesta, json.RawMessage(def))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// Orquesta's engine commands as the engine runs them, and its result shapes: {output} when
// the workflow completes, {errors, output} when it fails.
func TestOrquestaEngineCommands(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		def    string
		status execution.Status
		result string
	}{
		"noop handles a failure": {
			`{"tasks": {"a": {"action": "ex.fail", "next": [{"do": "noop"}]}}, "output": [{"x": 1}]}`,
			execution.Completed, `{"output":{"x":1}}`},
		"continue leaves it unhandled": {
			`{"tasks": {"a": {"action": "ex.fail", "next": [{"publish": [{"seen": true}], "do": "continue"}]}}, "output": [{"x": 1}]}`,
			execution.Failed, `{"errors":[{"message":"task a ended failed and no transition handles it","result":{"error":"boom"},"task_id":"a","type":"error"}],"output":{"x":1}}`},
		"fail fails a workflow whose task completed": {
			`{"tasks": {"a": {"action": "ex.echo", "next": [{"do": "fail"}]}, "b": {"action": "ex.echo"}}}`,
			execution.Failed, `{"errors":[{"message":"task a ended completed and a transition ran the fail command","result":null,"task_id":"a","type":"error"}],"output":null}`},
		"fail beside a task runs that task, then fails": {
			`{"tasks": {"a": {"action": "ex.fail", "next": [{"publish": "error=true", "do": "log, fail"}]}, "log": {"action": "ex.echo", "input": {"m": 1}, "next": [{"do": "after"}]},
			  "after": {"action": "ex.echo"}}, "output": [{"logged": "{{ task('log').result }}"}]}`,
			execution.Failed, `{"errors":[{"message":"task a ended failed and a transition ran the fail command","result":{"error":"boom"},"task_id":"a","type":"error"}],"output":{"logged":{"m":1}}}`},
		"a task without an action only transitions; a join waits for both": {
			`{"tasks": {"start": {"next": [{"do": "b, c"}]}, "b": {"action": "ex.echo", "next": [{"do": "j"}]},
			  "c": {"action": "ex.echo", "next": [{"do": ["j"]}]}, "j": {"join": "all", "action": "ex.echo"}}}`,
			execution.Completed, `{"output":null}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, orquesta(t, tc.def))
			b.run(t, `{}`, fails)
			x := b.fold(t, parentID)
			got, _ := json.Marshal(resultOf(t, b))
			if x.Status() != tc.status || string(got) != tc.result {
				t.Errorf("workflow %s %s, want %s %s", x.Status(), got, tc.status, tc.result)
			}
			for _, c := range b.children(t) {
				if c.WorkflowTask == "after" {
					t.Error("a task ran after the fail command's sibling")
				}
			}
		})
	}
	b := setup(t, orquesta(t, `{"tasks": {"start": {"next": [{"do": "b, c"}]}, "b": {"action": "ex.echo", "next": [{"do": "j"}]},
	  "c": {"action": "ex.echo", "next": [{"do": "j"}]}, "j": {"join": "all", "action": "ex.echo"}}}`))
	b.run(t, `{}`, fails)
	var tasks []string
	for _, c := range b.children(t) {
		tasks = append(tasks, c.WorkflowTask)
	}
	if got := strings.Join(tasks, ","); len(tasks) != 3 || strings.Count(got, "j") != 1 {
		t.Errorf("children %s, want b, c and j once (start has no action)", got)
	}
}

// resultOf is the result the parent's terminal status change carries.
func resultOf(t *testing.T, b *bundle) any {
	t.Helper()
	c, _ := b.lastChange(t)
	var v any
	if c != nil && len(c.Result) > 0 {
		if err := json.Unmarshal(c.Result, &v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// A workflow whose last task is an inquiry is paused while it waits; the answer ends the
// workflow (it used to resume it to running with nothing left to end it).
func TestAWorkflowWhoseLastTaskIsAnInquiryEndsWithTheAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t, `{"tasks": {"approve": {"action": "ex.ask"}}, "output": {"ok": "{{ task.approve.result.approved }}"}}`, askAction)
	after := b.request(t, `{}`)
	// Only what the bus routes here: Start the workflow's request, Advance its tasks' changes
	// (Resumed takes WorkflowResumed alone, which an answer does not append).
	deliver := func() {
		for {
			batch, err := b.fx.Store().ReadAll(t.Context(), *after, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 {
				return
			}
			*after = batch[len(batch)-1].Position
			for _, e := range batch {
				for _, h := range []func(context.Context, eventstore.Recorded) error{b.engine.Start, b.engine.Advance} {
					if err := b.fx.Deliver(h, e); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	deliver()
	inquiry := b.childOf(t, parentID, "approve")
	b.to(t, inquiry, "", execution.Pending)
	deliver()
	if st := b.status(t, parentID); st != execution.Paused {
		t.Fatalf("parent %s while its inquiry waits, want paused", st)
	}
	b.to(t, inquiry, `{"approved":true}`, execution.Completed)
	deliver()
	got := b.parentScript(t, eventstore.Position{})
	if !strings.Contains(got, `ExecutionStatusChanged from=running to=completed result={"ok":true}`) {
		t.Errorf("parent stream does not complete with the answer:\n%s", got)
	}
}

// StackStorm casts a rendered string to the type the action declares; Attune's own dialect
// does not (its templates keep their types).
func TestOrquestaCastsInputToTheActionsTypes(t *testing.T) {
	t.Parallel()
	num := pack.Action{Ref: "ex.num", RunnerType: pack.RunnerBuiltin, Parameters: pack.Params{"n": {Type: pack.ParamInteger}, "on": {Type: pack.ParamBoolean}}}
	b := setup(t, orquesta(t, `{"tasks": {"a": {"action": "ex.num n=\"4\" on=\"true\""}}}`), num)
	b.run(t, `{}`, echo)
	children := b.children(t)
	if len(children) != 1 || string(children[0].Parameters) != `{"n":4,"on":true}` {
		t.Errorf("children %v, want one with n=4 and on=true", children)
	}
}
