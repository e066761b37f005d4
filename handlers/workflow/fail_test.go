package workflow_test

import (
	"encoding/json"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/handlertest"
)

// withFile is the workflow action of setup, registered from its file.
func withFile(definition string) pack.Action {
	return pack.Action{Ref: "ex.wf", RunnerType: pack.RunnerWorkflow, EntryPoint: "workflows/wf.yaml", Workflow: json.RawMessage(definition)}
}

// A typo in with.items names a var that does not exist: the workflow fails at once, with a
// reason that names the var and the file, instead of skipping the task and completing.
func TestAWithItemsTypoFailsTheWorkflowNamingTheVarAndTheFile(t *testing.T) {
	t.Parallel()
	def := `{"vars": {"hosts": ["a", "b"]},
	  "tasks": {"each": {"action": "ex.echo", "with": {"items": "{{ vars.hots }}"}, "input": {"h": "{{ item }}"}}}}`
	b := setup(t, def, withFile(def))
	b.run(t, `{}`, echo)
	b.ended(t, execution.Failed, `workflow ex.wf (actions/workflows/wf.yaml): render items of task each: tasks.each.with.items: template "{{ vars.hots }}": vars.hots does not exist`)
	if n := len(b.children(t)); n != 0 {
		t.Errorf("%d children requested, want none", n)
	}
}

// An expression that fails at run time (a transition reading a field the result lacks)
// fails the workflow with the task, the transition and the name in its reason; a default
// given with ?? is taken instead.
func TestAnExpressionThatFailsAtRunTimeFailsTheWorkflow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		when   string
		status execution.Status
		reason string
	}{
		{`{{ result().count > 1 }}`, execution.Failed, `workflow ex.wf (actions/workflows/wf.yaml): task a, transition 1: evaluate when: tasks.a.next[0].when: template "{{ result().count > 1 }}": result().count does not exist`},
		{`{{ (result().count ?? 2) > 1 }}`, execution.Completed, ""},
	} {
		t.Run(tc.when, func(t *testing.T) {
			t.Parallel()
			src, _ := json.Marshal(tc.when)
			def := `{"tasks": {"a": {"action": "ex.echo", "input": {"n": 1}, "next": [{"when": ` + string(src) + `, "do": "b"}]},
			  "b": {"action": "ex.echo"}}}`
			b := setup(t, def, withFile(def))
			b.run(t, `{}`, echo)
			b.ended(t, tc.status, tc.reason)
		})
	}
}

// A parent stream the engine cannot fold (here: the log the split bug left, one child id
// scheduled twice) no longer poisons every message of the workflow and leaves it running
// for ever: the first message that meets it fails the workflow, with the reason.
func TestAStreamTheEngineCannotFoldFailsTheWorkflowInsteadOfPoisoningIt(t *testing.T) {
	t.Parallel()
	b := setup(t, joinDefinition, withFile(joinDefinition))
	parentMidJoin(b)
	b.fx.Given(execution.StreamID(parentID),
		wf.WorkflowTaskScheduled{ExecutionID: parentID, Task: "a", Attempt: 1, ChildExecutionID: "child-a", Action: "ex.echo"})
	end := b.fx.Given(execution.StreamID("child-a"),
		execution.ExecutionRequested{ExecutionID: "child-a", Action: "ex.echo", ParentID: parentID, WorkflowTask: "a"},
		execution.ExecutionStatusChanged{ExecutionID: "child-a", From: execution.Requested, To: execution.Failed, Reason: "no worker"},
	)[1]
	b.fx.WhenRedelivered(b.engine.Advance, end)
	if n := len(b.fx.Appended()); n != 1 {
		t.Errorf("%d events appended, want the parent's failure alone:\n%s", n, handlertest.Script(b.fx.Appended()))
	}
	b.ended(t, execution.Failed, "workflow ex.wf (actions/workflows/wf.yaml): the engine cannot advance it: stream execution-"+parentID+
		": fold workflow event 9 (WorkflowTaskScheduled): child execution child-a scheduled twice")
}

// ended checks how the parent execution ended and the reason it gives (the last status
// change of its stream, in full).
func (b *bundle) ended(t *testing.T, status execution.Status, reason string) {
	t.Helper()
	c, recorded := b.lastChange(t)
	if c == nil {
		t.Errorf("the workflow never changed status:\n%s", handlertest.Script(recorded))
		return
	}
	if c.To != status || c.Reason != reason {
		t.Errorf("the workflow ended %s with reason\n %q\nwant %s with\n %q\n%s", c.To, c.Reason, status, reason, handlertest.Script(recorded))
	}
}

// lastChange is the parent's last status change (nil: none), and its stream.
func (b *bundle) lastChange(t *testing.T) (*execution.ExecutionStatusChanged, []eventstore.Recorded) {
	t.Helper()
	recorded, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(parentID))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(recorded) - 1; i >= 0; i-- {
		e, err := recorded[i].Decode()
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := e.(*execution.ExecutionStatusChanged); ok {
			return c, recorded
		}
	}
	return nil, recorded
}

// Vars that cannot render fail the workflow before it starts, with the name in the reason.
func TestVarsNamingAMissingParameterFailTheWorkflowWithTheName(t *testing.T) {
	t.Parallel()
	def := `{"vars": {"target": "{{ parameters.host }}"}, "tasks": {"a": {"action": "ex.echo"}}}`
	b := setup(t, def, withFile(def))
	b.run(t, `{}`, echo)
	b.ended(t, execution.Failed, `workflow ex.wf (actions/workflows/wf.yaml): render vars: vars.target: template "{{ parameters.host }}": parameters.host does not exist`)
}
