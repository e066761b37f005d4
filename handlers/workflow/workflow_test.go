package workflow_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/execution"
)

func TestSequentialTasksPassDataAlong(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "a": {"action": "ex.echo", "input": {"n": "{{ parameters.n }}"},
	          "next": [{"when": "{{ succeeded() }}", "publish": {"x": "{{ result().n + 1 }}"}, "do": "b"}]},
	    "b": {"action": "ex.echo", "input": {"n": "{{ vars.x }}"}, "next": [{"do": "c"}]},
	    "c": {"action": "ex.echo", "input": {"n": "{{ task.b.result.n * 10 }}"}}
	  },
	  "output": {"final": "{{ task.c.result.n }}", "x": "{{ vars.x }}"}
	}`)
	got := b.run(t, `{"n": 1}`, echo)
	same(t, got, `
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowStarted input={"n":1}
		WorkflowTaskScheduled task=a attempt=1 action=ex.echo input={"n":1}
		WorkflowTaskCompleted task=a attempt=1 status=completed result={"n":1}
		WorkflowTaskTransitioned task=a status=completed published={"x":2} next=["b"]
		WorkflowTaskScheduled task=b attempt=1 action=ex.echo input={"n":2}
		WorkflowTaskCompleted task=b attempt=1 status=completed result={"n":2}
		WorkflowTaskTransitioned task=b status=completed next=["c"]
		WorkflowTaskScheduled task=c attempt=1 action=ex.echo input={"n":20}
		WorkflowTaskCompleted task=c attempt=1 status=completed result={"n":20}
		WorkflowTaskTransitioned task=c status=completed
		WorkflowCompleted status=completed output={"final":20,"x":2}
		ExecutionStatusChanged from=running to=completed result={"final":20,"x":2}
	`)
	if n := len(b.children(t)); n != 3 {
		t.Errorf("%d children requested, want 3", n)
	}
}

func TestParallelBranchesMeetInAJoin(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "vars": {"greeting": "hi"},
	  "tasks": {
	    "init": {"action": "ex.echo", "next": [{"do": ["left", "right"]}]},
	    "left": {"action": "ex.echo", "input": {"side": "left"}, "next": [{"publish": {"l": "{{ result().side }}"}, "do": "join"}]},
	    "right": {"action": "ex.echo", "input": {"side": "right"}, "next": [{"publish": {"r": "{{ result().side }}"}, "do": "join"}]},
	    "join": {"join": "all", "action": "ex.echo", "input": {"m": "{{ vars.greeting }} {{ vars.l }}+{{ vars.r }}"}}
	  },
	  "output": {"m": "{{ task.join.result.m }}"}
	}`)
	got := b.run(t, `{}`, echo)
	for _, want := range []string{
		`WorkflowStarted input={} vars={"greeting":"hi"}`,
		`WorkflowTaskTransitioned task=init status=completed next=["left","right"]`,
		`WorkflowTaskScheduled task=join attempt=1 action=ex.echo input={"m":"hi left+right"}`,
		`ExecutionStatusChanged from=running to=completed result={"m":"hi left+right"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("parent stream lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "WorkflowTaskScheduled task=join"); n != 1 {
		t.Errorf("join scheduled %d times, want once:\n%s", n, got)
	}
	if n := len(b.children(t)); n != 4 {
		t.Errorf("%d children requested, want 4", n)
	}
}

func TestWithItemsRunsEachItemWithinTheWindow(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "each": {"action": "ex.echo", "with": {"items": "{{ parameters.hosts }}", "concurrency": 2},
	             "input": {"host": "{{ item }}", "i": "{{ index }}"},
	             "next": [{"when": "{{ succeeded() }}", "publish": {"n": "{{ length(result()) }}"}, "do": "after"}]},
	    "after": {"action": "ex.echo", "input": {"n": "{{ vars.n }}"}}
	  },
	  "output": {"results": "{{ task.each.result }}"}
	}`)
	got := b.run(t, `{"hosts": ["a", "b", "c"]}`, echo)
	same(t, got, `
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowStarted input={"hosts":["a","b","c"]}
		WorkflowTaskScheduled task=each item={"index":0,"count":3} attempt=1 action=ex.echo input={"host":"a","i":0}
		WorkflowTaskScheduled task=each item={"index":1,"count":3} attempt=1 action=ex.echo input={"host":"b","i":1}
		WorkflowTaskCompleted task=each item={"index":0,"count":3} attempt=1 status=completed result={"host":"a","i":0}
		WorkflowTaskScheduled task=each item={"index":2,"count":3} attempt=1 action=ex.echo input={"host":"c","i":2}
		WorkflowTaskCompleted task=each item={"index":1,"count":3} attempt=1 status=completed result={"host":"b","i":1}
		WorkflowTaskCompleted task=each item={"index":2,"count":3} attempt=1 status=completed result={"host":"c","i":2}
		WorkflowTaskTransitioned task=each status=completed published={"n":3} next=["after"]
		WorkflowTaskScheduled task=after attempt=1 action=ex.echo input={"n":3}
		WorkflowTaskCompleted task=after attempt=1 status=completed result={"n":3}
		WorkflowTaskTransitioned task=after status=completed
		WorkflowCompleted status=completed output={"results":[{"host":"a","i":0},{"host":"b","i":1},{"host":"c","i":2}]}
		ExecutionStatusChanged from=running to=completed result={"results":[{"host":"a","i":0},{"host":"b","i":1},{"host":"c","i":2}]}
	`)
}

// fails ends every run of ex.fail as failed.
func fails(req *execution.ExecutionRequested, runs int) (execution.Status, string) {
	if req.Action == "ex.fail" {
		return execution.Failed, `{"error":"boom"}`
	}
	return echo(req, runs)
}

func TestAFailureTakesItsBranch(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "risky": {"action": "ex.fail", "next": [
	      {"when": "{{ succeeded() }}", "do": "good"},
	      {"when": "{{ failed() }}", "publish": {"why": "{{ result().error }}"}, "do": "cleanup"}]},
	    "good": {"action": "ex.echo"},
	    "cleanup": {"action": "ex.echo", "input": {"why": "{{ vars.why }}"}}
	  },
	  "output": {"why": "{{ vars.why }}"}
	}`)
	got := b.run(t, `{}`, fails)
	same(t, got, `
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowStarted input={}
		WorkflowTaskScheduled task=risky attempt=1 action=ex.fail
		WorkflowTaskCompleted task=risky attempt=1 status=failed result={"error":"boom"}
		WorkflowTaskTransitioned task=risky status=failed published={"why":"boom"} next=["cleanup"]
		WorkflowTaskScheduled task=cleanup attempt=1 action=ex.echo input={"why":"boom"}
		WorkflowTaskCompleted task=cleanup attempt=1 status=completed result={"why":"boom"}
		WorkflowTaskTransitioned task=cleanup status=completed
		WorkflowCompleted status=completed output={"why":"boom"}
		ExecutionStatusChanged from=running to=completed result={"why":"boom"}
	`)
}

func TestAnUnhandledFailureFailsTheWorkflowOnceInFlightTasksEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "risky": {"action": "ex.fail", "next": [{"when": "{{ succeeded() }}", "do": "after"}]},
	    "slow": {"action": "ex.echo", "next": [{"do": "after"}]},
	    "after": {"action": "ex.echo"}
	  }
	}`)
	got := b.run(t, `{}`, fails)
	for _, want := range []string{
		`WorkflowTaskTransitioned task=risky status=failed`,
		`WorkflowTaskCompleted task=slow attempt=1 status=completed`,
		`WorkflowCompleted status=failed error="task risky ended failed and no transition handles it"`,
		`ExecutionStatusChanged from=running to=failed reason="task risky ended failed and no transition handles it"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("parent stream lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "task=after") {
		t.Errorf("a task started after the unhandled failure:\n%s", got)
	}
	if !strings.HasSuffix(got, `reason="task risky ended failed and no transition handles it"`) {
		t.Errorf("the workflow did not end last:\n%s", got)
	}
}

func TestARetriedTaskSucceedsOnItsThirdAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "flaky": {"action": "ex.fail", "retry": {"count": 2, "delay": 1, "backoff": "exponential"},
	              "next": [{"when": "{{ succeeded() }}", "do": "done"}]},
	    "done": {"action": "ex.echo"}
	  }
	}`)
	got := b.run(t, `{}`, func(req *execution.ExecutionRequested, runs int) (execution.Status, string) {
		if req.WorkflowTask == "flaky" && runs < 2 {
			return execution.Failed, ""
		}
		return execution.Completed, `{"ok":true}`
	})
	same(t, got, `
		ExecutionStatusChanged from=requested to=running reason="started by the workflow engine"
		WorkflowStarted input={}
		WorkflowTaskScheduled task=flaky attempt=1 action=ex.fail
		WorkflowTaskCompleted task=flaky attempt=1 status=failed
		WorkflowTaskRetried task=flaky attempt=1 reason="attempt 1 of 3 ended failed" not_before=2026-01-02T03:04:06Z
		WorkflowTaskScheduled task=flaky attempt=2 action=ex.fail not_before=2026-01-02T03:04:06Z
		WorkflowTaskCompleted task=flaky attempt=2 status=failed
		WorkflowTaskRetried task=flaky attempt=2 reason="attempt 2 of 3 ended failed" not_before=2026-01-02T03:04:07Z
		WorkflowTaskScheduled task=flaky attempt=3 action=ex.fail not_before=2026-01-02T03:04:07Z
		WorkflowTaskCompleted task=flaky attempt=3 status=completed result={"ok":true}
		WorkflowTaskTransitioned task=flaky status=completed next=["done"]
		WorkflowTaskScheduled task=done attempt=1 action=ex.echo
		WorkflowTaskCompleted task=done attempt=1 status=completed result={"ok":true}
		WorkflowTaskTransitioned task=done status=completed
		WorkflowCompleted status=completed
		ExecutionStatusChanged from=running to=completed
	`)
}

func TestTwoHundredItemsRunOnceEachUnderRedelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, `{
	  "tasks": {
	    "each": {"action": "ex.echo", "with": {"items": "{{ parameters.items }}", "concurrency": 20},
	             "input": {"i": "{{ item }}"}, "next": [{"do": "sum"}]},
	    "sum": {"join": "all", "action": "ex.echo", "input": {"n": "{{ length(task.each.result) }}"}}
	  },
	  "output": {"n": "{{ task.sum.result.n }}"}
	}`)
	items := make([]string, 200)
	for i := range items {
		items[i] = strconv.Itoa(i)
	}
	got := b.run(t, `{"items": [`+strings.Join(items, ",")+`]}`, echo)
	seen := map[string]int{}
	for _, c := range b.children(t) {
		seen[c.WorkflowTask+" "+string(c.Parameters)]++
	}
	if len(seen) != 201 {
		t.Errorf("%d distinct children, want 200 items and one sum", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("child %s requested %d times", k, n)
		}
	}
	if !strings.HasSuffix(got, `ExecutionStatusChanged from=running to=completed result={"n":200}`) {
		t.Errorf("the workflow did not complete with n=200; it ends:\n%s", got[max(0, len(got)-500):])
	}
}
