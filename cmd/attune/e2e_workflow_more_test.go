package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// moreWorkflowsPack holds the workflows of the scenarios below. flaky fails until its
// counter file (one per test run) reaches 3.
func moreWorkflowsPack(t *testing.T) string {
	counter := filepath.Join(t.TempDir(), "flaky.count")
	return writePack(t, map[string]string{
		"pack.yaml": "ref: more\nversion: 1.0.0\n",
		"actions/double.yaml": "name: double\nrunner_type: python\nentry_point: double.py\n" +
			"parameters:\n  n: {type: integer, required: true}\n",
		"actions/double.py":  "import json, sys\np = json.load(sys.stdin)\nprint(json.dumps({'n': p['n'] * 2}))\n",
		"actions/boom.yaml":  "name: boom\nrunner_type: shell\nentry_point: boom.sh\n",
		"actions/boom.sh":    "echo 'it broke' >&2\nexit 1\n",
		"actions/flaky.yaml": "name: flaky\nrunner_type: shell\nentry_point: flaky.sh\n",
		"actions/flaky.sh": fmt.Sprintf(`n=$(cat %[1]q 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > %[1]q
if [ "$n" -lt 3 ]; then echo "attempt $n fails" >&2; exit 1; fi
echo "{\"attempts\": $n}"
`, counter),
		"actions/nap.yaml":         "name: nap\nrunner_type: shell\nentry_point: nap.sh\ntimeout: 120\n",
		"actions/nap.sh":           "sleep 30\n",
		"actions/join.yaml":        "name: join\nrunner_type: workflow\nentry_point: workflows/join.yaml\n",
		"actions/unhandled.yaml":   "name: unhandled\nrunner_type: workflow\nentry_point: workflows/unhandled.yaml\n",
		"actions/retried.yaml":     "name: retried\nrunner_type: workflow\nentry_point: workflows/retried.yaml\n",
		"actions/inner.yaml":       "name: inner\nrunner_type: workflow\nentry_point: workflows/inner.yaml\nparameters:\n  n: {type: integer, required: true}\n",
		"actions/outer.yaml":       "name: outer\nrunner_type: workflow\nentry_point: workflows/outer.yaml\n",
		"actions/slow.yaml":        "name: slow\nrunner_type: workflow\nentry_point: workflows/slow.yaml\n",
		"actions/slow_nested.yaml": "name: slow_nested\nrunner_type: workflow\nentry_point: workflows/slow_nested.yaml\n",
		"actions/workflows/join.yaml": `version: 1
tasks:
  init:
    action: core.noop
    next:
      - do: [left, right]
  left:
    action: more.double
    input: {n: 1}
    next:
      - publish: {left: "{{ result().n }}"}
        do: [both]
  right:
    action: more.double
    input: {n: 10}
    next:
      - publish: {right: "{{ result().n }}"}
        do: [both]
  both:
    join: all
    action: core.echo
    input: {message: "{{ vars.left }} and {{ vars.right }}"}
output:
  sum: "{{ vars.left + vars.right }}"
`,
		"actions/workflows/unhandled.yaml": `version: 1
tasks:
  risky:
    action: more.boom
    next:
      - when: "{{ succeeded() }}"
        do: [after]
  after:
    action: core.echo
    input: {message: "never"}
`,
		"actions/workflows/retried.yaml": `version: 1
tasks:
  flaky:
    action: more.flaky
    retry: {count: 2}
    next:
      - when: "{{ succeeded() }}"
        publish: {attempts: "{{ result().attempts }}"}
output:
  attempts: "{{ vars.attempts }}"
`,
		"actions/workflows/inner.yaml": `version: 1
tasks:
  twice:
    action: more.double
    input: {n: "{{ parameters.n }}"}
    next:
      - publish: {doubled: "{{ result().n }}"}
output:
  doubled: "{{ vars.doubled }}"
`,
		"actions/workflows/outer.yaml": `version: 1
tasks:
  sub:
    action: more.inner
    input: {n: 4}
    next:
      - when: "{{ succeeded() }}"
        publish: {from_inner: "{{ result().doubled }}"}
output:
  from_inner: "{{ vars.from_inner }}"
`,
		"actions/workflows/slow.yaml": `version: 1
tasks:
  nap:
    action: more.nap
    next:
      - do: [after]
  after:
    action: core.echo
    input: {message: "too late"}
`,
		"actions/workflows/slow_nested.yaml": `version: 1
tasks:
  sub:
    action: more.slow
    next:
      - do: [after]
  after:
    action: core.echo
    input: {message: "too late"}
`,
	})
}

func TestE2EWorkflowScenarios(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{moreWorkflowsPack(t)})
		ctx := context.Background()
		run := func(action string) string {
			x, err := sys.api.Run(ctx, action, nil)
			if err != nil {
				t.Fatalf("run %s: %v", action, err)
			}
			return x.ID
		}
		join, unhandled, retried, outer := run("more.join"), run("more.unhandled"), run("more.retried"), run("more.outer")

		t.Run("parallel branches meet in a join that runs once, after both", func(t *testing.T) {
			if x := sys.waitTerminal(join); x.Status != execution.Completed || string(x.Result) != `{"sum":22}` {
				t.Errorf("join workflow: %s %s (%s); want completed {\"sum\":22}", x.Status, x.Result, x.Reason)
			}
			if n := childrenPerTask(sys, join); n["init"] != 1 || n["left"] != 1 || n["right"] != 1 || n["both"] != 1 {
				t.Errorf("children per task %v, want one each", n)
			}
			// The join is scheduled only after both branches have ended.
			var ended []string
			for _, e := range history(t, sys, join) {
				switch task := e.field("task"); e.Type {
				case "WorkflowTaskCompleted":
					ended = append(ended, task)
				case "WorkflowTaskScheduled":
					if task == "both" && (!slices.Contains(ended, "left") || !slices.Contains(ended, "right")) {
						t.Errorf("the join was scheduled when only %v had ended", ended)
					}
				}
			}
		})

		t.Run("an unhandled failure fails the workflow", func(t *testing.T) {
			x := sys.waitTerminal(unhandled)
			if x.Status != execution.Failed || !strings.Contains(x.Reason, "risky") {
				t.Errorf("unhandled failure: %s (%s); want failed, naming task risky", x.Status, x.Reason)
			}
			if n := childrenPerTask(sys, unhandled); n["risky"] != 1 || n["after"] != 0 {
				t.Errorf("children per task %v, want risky=1 and no after", n)
			}
		})

		t.Run("a task retried twice then succeeding", func(t *testing.T) {
			if x := sys.waitTerminal(retried); x.Status != execution.Completed || string(x.Result) != `{"attempts":3}` {
				t.Errorf("retried workflow: %s %s (%s); want completed {\"attempts\":3}", x.Status, x.Result, x.Reason)
			}
			var statuses []string
			for _, c := range sys.executions(url.Values{"parent": {retried}}) {
				statuses = append(statuses, string(c.Status))
			}
			if strings.Count(strings.Join(statuses, " "), "failed") != 2 || len(statuses) != 3 {
				t.Errorf("the flaky task's runs ended %v, want two failed and one completed", statuses)
			}
			retries := 0
			for _, e := range history(t, sys, retried) {
				if e.Type == "WorkflowTaskRetried" && e.field("task") == "flaky" {
					retries++
				}
			}
			if retries != 2 {
				t.Errorf("the parent's history holds %d WorkflowTaskRetried of flaky, want 2", retries)
			}
		})

		t.Run("a nested workflow's output reaches the parent", func(t *testing.T) {
			if x := sys.waitTerminal(outer); x.Status != execution.Completed || string(x.Result) != `{"from_inner":8}` {
				t.Errorf("outer workflow: %s %s (%s); want completed {\"from_inner\":8}", x.Status, x.Result, x.Reason)
			}
			subs := sys.executions(url.Values{"parent": {outer}})
			if len(subs) != 1 || subs[0].Action != "more.inner" || string(subs[0].Result) != `{"doubled":8}` {
				t.Fatalf("outer's children %+v, want one more.inner with result {\"doubled\":8}", subs)
			}
			if grand := sys.executions(url.Values{"parent": {subs[0].ID}}); len(grand) != 1 || grand[0].WorkflowTask != "twice" {
				t.Errorf("the nested workflow ran children %+v, want its task twice", grand)
			}
		})
	})
}

func TestE2EWorkflowCancelMidFlight(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{moreWorkflowsPack(t)})
		ctx := context.Background()
		for _, tc := range []struct {
			action string
			depth  int // workflows between the cancelled parent and the sleeping run
		}{
			{action: "more.slow", depth: 0},
			{action: "more.slow_nested", depth: 1},
		} {
			t.Run(tc.action, func(t *testing.T) {
				x, err := sys.api.Run(ctx, tc.action, nil)
				if err != nil {
					t.Fatal(err)
				}
				chain := []string{x.ID} // the parent, each nested workflow, then the nap
				for len(chain) < tc.depth+2 {
					var child httpapi.Execution
					sys.eventually(30*time.Second, "the next level of "+tc.action+" is running", func() bool {
						kids := sys.executions(url.Values{"parent": {chain[len(chain)-1]}})
						if len(kids) == 1 && kids[0].Status == execution.Running {
							child = kids[0]
							return true
						}
						return false
					})
					chain = append(chain, child.ID)
				}
				if _, err := sys.api.Cancel(ctx, x.ID); err != nil {
					t.Fatalf("cancel %s: %v", x.ID, err)
				}
				for i, id := range chain {
					if got := sys.waitTerminal(id); got.Status != execution.Cancelled {
						t.Errorf("level %d (%s %s) ended %s (%s), want cancelled", i, got.Action, got.WorkflowTask, got.Status, got.Reason)
					}
				}
				for _, id := range chain[:len(chain)-1] {
					if n := childrenPerTask(sys, id); n["after"] != 0 {
						t.Errorf("workflow %s ran its next task after the cancel: %v", id, n)
					}
				}
			})
		}
	})
}

// childrenPerTask counts the children of a workflow execution per task.
func childrenPerTask(sys *system, parent string) map[string]int {
	n := map[string]int{}
	for _, c := range sys.executions(url.Values{"parent": {parent}}) {
		n[c.WorkflowTask]++
	}
	return n
}

// history is the execution's stream as the API serves it.
func history(t *testing.T, sys *system, id string) []historyEvent {
	t.Helper()
	envs, err := sys.api.History(context.Background(), id)
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	out := make([]historyEvent, len(envs))
	for i, e := range envs {
		out[i] = historyEvent{Type: e.Type, Data: e.Data}
	}
	return out
}

type historyEvent struct {
	Type string
	Data json.RawMessage
}

// field is one top-level field of the event's data, as text.
func (e historyEvent) field(name string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Data, &m)
	return fmt.Sprint(m[name])
}
