package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/execution"
)

func workflowPack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml": "ref: flows\nversion: 1.0.0\n",
		"actions/double.yaml": "name: double\nrunner_type: python\nentry_point: double.py\n" +
			"parameters:\n  n: {type: integer, required: true}\n",
		"actions/double.py":             "import json, sys\np = json.load(sys.stdin)\nprint(json.dumps({'n': p['n'] * 2}))\n",
		"actions/boom.yaml":             "name: boom\nrunner_type: shell\nentry_point: boom.sh\n",
		"actions/boom.sh":               "echo 'it broke' >&2\nexit 1\n",
		"actions/chain.yaml":            "name: chain\nrunner_type: workflow\nentry_point: workflows/chain.yaml\nparameters:\n  start: {type: integer, required: true}\n",
		"actions/fanout.yaml":           "name: fanout\nrunner_type: workflow\nentry_point: workflows/fanout.yaml\n",
		"actions/rescue.yaml":           "name: rescue\nrunner_type: workflow\nentry_point: workflows/rescue.yaml\n",
		"actions/sloppy.yaml":           "name: sloppy\nrunner_type: workflow\nentry_point: workflows/sloppy.yaml\n",
		"actions/workflows/sloppy.yaml": "version: 1\ntasks:\n  oops:\n    action: flows.double\n    input: {n: \"not a number\"}\n",
		"actions/workflows/chain.yaml": `version: 1
tasks:
  a:
    action: flows.double
    input: {n: "{{ parameters.start }}"}
    next:
      - when: "{{ succeeded() }}"
        publish: {after_a: "{{ result().n }}"}
        do: [b]
  b:
    action: flows.double
    input: {n: "{{ vars.after_a }}"}
    next:
      - when: "{{ succeeded() }}"
        publish: {after_b: "{{ result().n }}"}
        do: [c]
  c:
    action: flows.double
    input: {n: "{{ vars.after_b }}"}
    next:
      - publish: {final: "{{ result().n }}"}
output:
  final: "{{ vars.final }}"
`,
		"actions/workflows/fanout.yaml": `version: 1
vars: {hosts: [1, 2, 3]}
tasks:
  each:
    action: flows.double
    with: {items: "{{ vars.hosts }}", concurrency: 2}
    input: {n: "{{ item }}"}
    next:
      - do: [done]
  done:
    join: all
    action: core.echo
    input: {message: "all done"}
output:
  count: "{{ length(vars.hosts) }}"
`,
		"actions/workflows/rescue.yaml": `version: 1
tasks:
  risky:
    action: flows.boom
    next:
      - when: "{{ failed() }}"
        publish: {handled: true}
        do: [report]
  report:
    action: core.echo
    input: {message: "risky failed"}
output:
  handled: "{{ vars.handled }}"
`,
	})
}

func TestE2EWorkflows(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{workflowPack(t)})
		ctx := context.Background()
		run := func(action string, params map[string]json.RawMessage) string {
			x, err := sys.api.Run(ctx, action, params)
			if err != nil {
				t.Fatalf("run %s: %v", action, err)
			}
			return x.ID
		}
		chain := run("flows.chain", map[string]json.RawMessage{"start": json.RawMessage("3")})
		fanout := run("flows.fanout", nil)
		rescue := run("flows.rescue", nil)
		sloppy := run("flows.sloppy", nil)

		if x := sys.waitTerminal(chain); x.Status != execution.Completed || string(x.Result) != `{"final":24}` {
			t.Errorf("A → B → C passing data: %s %s (%s); want completed {\"final\":24}", x.Status, x.Result, x.Reason)
		}
		if children := sys.executions(url.Values{"parent": {chain}}); len(children) != 3 {
			t.Errorf("the chain ran %d children, want 3", len(children))
		}
		if x := sys.waitTerminal(fanout); x.Status != execution.Completed || string(x.Result) != `{"count":3}` {
			t.Errorf("with-items over 3: %s %s (%s)", x.Status, x.Result, x.Reason)
		}
		children := sys.executions(url.Values{"parent": {fanout}})
		perTask := map[string]int{}
		for _, c := range children {
			perTask[c.WorkflowTask]++
			if c.Status != execution.Completed {
				t.Errorf("child %s of the fan-out: %s", c.WorkflowTask, c.Status)
			}
		}
		if perTask["each"] != 3 || perTask["done"] != 1 {
			t.Errorf("fan-out children per task %v, want each=3 done=1", perTask)
		}
		if x := sys.waitTerminal(sloppy); x.Status != execution.Failed {
			t.Errorf("a task whose input breaks its action's schema: workflow %s (%s), want failed", x.Status, x.Reason)
		}
		for _, c := range sys.executions(url.Values{"parent": {sloppy}}) {
			if c.Status != execution.Failed || c.Worker != "" || !strings.Contains(c.Reason, `"n"`) {
				t.Errorf("child with invalid input: %s on worker %q (%s); want failed before any worker, naming n", c.Status, c.Worker, c.Reason)
			}
		}
		if x := sys.waitTerminal(rescue); x.Status != execution.Completed || !strings.Contains(string(x.Result), `"handled":true`) {
			t.Errorf("failure branch: %s %s (%s); want completed with handled", x.Status, x.Result, x.Reason)
		}
	})
}

func TestE2EWorkflowTaskTimeoutTakesItsBranch(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		pack := writePack(t, map[string]string{
			"pack.yaml":          "ref: slowflow\nversion: 1.0.0\n",
			"actions/watch.yaml": "name: watch\nrunner_type: workflow\nentry_point: workflows/watch.yaml\n",
			"actions/workflows/watch.yaml": `version: 1
tasks:
  wait:
    action: core.sleep
    input: {seconds: 30}
    timeout: 1
    next:
      - when: "{{ timed_out() }}"
        publish: {outcome: "gave up waiting"}
        do: [report]
      - when: "{{ succeeded() }}"
        publish: {outcome: "finished"}
  report:
    action: core.echo
    input: {message: "{{ vars.outcome }}"}
output:
  outcome: "{{ vars.outcome }}"
`,
		})
		sys := startSystem(t, transport, []string{pack})
		x, err := sys.api.Run(context.Background(), "slowflow.watch", nil)
		if err != nil {
			t.Fatal(err)
		}
		done := sys.waitTerminal(x.ID)
		if done.Status != execution.Completed || string(done.Result) != `{"outcome":"gave up waiting"}` {
			t.Fatalf("workflow with a timed-out task: %s %s (%s); want completed via the timed_out() branch", done.Status, done.Result, done.Reason)
		}
		tasks := map[string]execution.Status{}
		for _, c := range sys.executions(url.Values{"parent": {x.ID}}) {
			tasks[c.WorkflowTask] = c.Status
		}
		if tasks["wait"] != execution.Timeout || tasks["report"] != execution.Completed {
			t.Errorf("children %v; want wait=timeout, report=completed", tasks)
		}
	})
}
