package workflow_test

import (
	"strings"
	"testing"
)

// A task reached by two transitions without a join (a split) runs once per arrival, as
// Orquesta runs it: each activation gets its own child, the workflow completes.
func TestASplitRunsTheTaskOncePerArrivingTransition(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "init": {"action": "ex.echo", "next": [{"do": ["left", "right"]}]},
	    "left": {"action": "ex.echo", "input": {"side": "left"}, "next": [{"publish": {"last": "{{ result().side }}"}, "do": "notify"}]},
	    "right": {"action": "ex.echo", "input": {"side": "right"}, "next": [{"publish": {"last": "{{ result().side }}"}, "do": "notify"}]},
	    "notify": {"action": "ex.echo", "input": {"m": "after {{ vars.last }}"}}
	  },
	  "output": {"m": "{{ task.notify.result.m }}"}
	}`)
	got := b.run(t, `{}`, echo)
	if n := strings.Count(got, "WorkflowTaskScheduled task=notify"); n != 2 {
		t.Errorf("notify scheduled %d times, want twice (once per arriving transition):\n%s", n, got)
	}
	for _, want := range []string{
		`WorkflowTaskScheduled task=notify attempt=1 action=ex.echo`,
		`WorkflowTaskScheduled task=notify activation=1 attempt=1 action=ex.echo`,
		`WorkflowTaskTransitioned task=notify activation=1 status=completed`,
		`ExecutionStatusChanged from=running to=completed`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("parent stream lacks %q:\n%s", want, got)
		}
	}
	children := b.children(t)
	ids := map[string]bool{}
	notify := 0
	for _, c := range children {
		ids[c.ExecutionID] = true
		if c.WorkflowTask == "notify" {
			notify++
		}
	}
	if len(children) != 5 || len(ids) != 5 || notify != 2 {
		t.Errorf("%d children with %d distinct ids, %d of notify; want 5, 5 and 2", len(children), len(ids), notify)
	}
}
