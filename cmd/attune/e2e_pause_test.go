package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// pausePack's step appends its name to a log file (the side effect the tests count), sleeps,
// and fails when the file it needs is missing.
func pausePack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml": "ref: pz\nversion: 1.0.0\n",
		"actions/step.yaml": "name: step\nrunner_type: python\nentry_point: step.py\nparameters:\n" +
			"  log: {type: string, required: true}\n  name: {type: string, required: true}\n" +
			"  sleep: {type: number, default: 0}\n  need: {type: string}\n",
		"actions/step.py": `import json, os, sys, time
p = json.load(sys.stdin)
with open(p['log'], 'a') as f:
    f.write(p['name'] + '\n')
time.sleep(p.get('sleep', 0))
if p.get('need') and not os.path.exists(p['need']):
    print('missing ' + p['need'], file=sys.stderr)
    sys.exit(1)
print(json.dumps({'name': p['name']}))
`,
		"actions/two.yaml": "name: two\nrunner_type: workflow\nentry_point: workflows/two.yaml\nparameters:\n  log: {type: string, required: true}\n",
		"actions/workflows/two.yaml": `version: 1
tasks:
  first:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: first, sleep: 1.5}
    next: [{do: [second]}]
  second:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: second}
output:
  second: "{{ task.second.result.name }}"
`,
		"actions/four.yaml": "name: four\nrunner_type: workflow\nentry_point: workflows/four.yaml\nparameters:\n" +
			"  log: {type: string, required: true}\n  flag: {type: string, required: true}\n",
		"actions/workflows/four.yaml": `version: 1
tasks:
  a:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: a}
    next: [{when: "{{ succeeded() }}", publish: {from_a: "{{ result().name }}"}, do: [b]}]
  b:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: b}
    next: [{when: "{{ succeeded() }}", do: [c]}]
  c:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: c, need: "{{ parameters.flag }}"}
    next: [{when: "{{ succeeded() }}", do: [d]}]
  d:
    action: pz.step
    input: {log: "{{ parameters.log }}", name: "d-after-{{ vars.from_a }}"}
output:
  d: "{{ task.d.result.name }}"
`,
		"actions/items.yaml": "name: items\nrunner_type: workflow\nentry_point: workflows/items.yaml\nparameters:\n" +
			"  log: {type: string, required: true}\n  dir: {type: string, required: true}\n",
		"actions/workflows/items.yaml": `version: 1
tasks:
  each:
    action: pz.step
    with: {items: "{{ [1, 2, 3, 4, 5] }}", concurrency: 5}
    input: {log: "{{ parameters.log }}", name: "item{{ item }}", need: "{{ parameters.dir }}/ok{{ item }}"}
    next: [{when: "{{ succeeded() }}", publish: {names: "{{ map(result(), .name) }}"}}]
output:
  names: "{{ vars.names }}"
`,
	})
}

func TestE2EPauseResumeAndRerun(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{pausePack(t)})
		ctx := context.Background()
		dir := t.TempDir()
		cli := func(t *testing.T, args ...string) (string, error) {
			out, _, err := attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
			return out, err
		}
		param := func(v string) json.RawMessage { b, _ := json.Marshal(v); return b }
		sideEffects := func(log string) map[string]int {
			b, _ := os.ReadFile(log)
			n := map[string]int{}
			for _, l := range strings.Fields(string(b)) {
				n[l]++
			}
			return n
		}
		// requested lists the tasks the log holds a child request of parent for.
		requested := func(parent string) map[string]int {
			n := map[string]int{}
			for _, e := range sys.logEvents() {
				if e.Type == "ExecutionRequested" && field(e, "parent_id") == parent {
					n[field(e, "workflow_task")]++
				}
			}
			return n
		}
		pausedWhileFirstRuns := func(t *testing.T, log string) string {
			x, err := sys.api.Run(ctx, "pz.two", map[string]json.RawMessage{"log": param(log)})
			if err != nil {
				t.Fatal(err)
			}
			sys.eventually(30*time.Second, "task first running", func() bool {
				kids := sys.executions(url.Values{"parent": {x.ID}})
				return len(kids) == 1 && kids[0].Status == execution.Running
			})
			if out, err := cli(t, "execution", "pause", x.ID); err != nil || !strings.Contains(out, ": paus") {
				t.Fatalf("attune execution pause: %v\n%s", err, out)
			}
			sys.eventually(30*time.Second, "the workflow paused", func() bool {
				got, err := sys.api.Execution(ctx, x.ID)
				return err == nil && got.Status == execution.Paused
			})
			return x.ID
		}

		t.Run("pause, then resume", func(t *testing.T) {
			log := filepath.Join(dir, "two.log")
			id := pausedWhileFirstRuns(t, log)
			// Paused means first has ended and second was decided but held: the log holds no
			// request of second at this point.
			if n := requested(id); n["first"] != 1 || n["second"] != 0 {
				t.Fatalf("children requested while paused: %v, want first alone", n)
			}
			// The tree reads the workflows read model, which may trail the executions one.
			var tree string
			sys.eventually(10*time.Second, "the tree to show the paused workflow and its held task", func() bool {
				var err error
				tree, err = cli(t, "execution", "get", id, "--tree")
				return err == nil && strings.Contains(tree, "paused") && strings.Contains(tree, "held")
			})
			if _, err := cli(t, "execution", "resume", id); err != nil {
				t.Fatalf("attune execution resume: %v", err)
			}
			if x := sys.waitTerminal(id); x.Status != execution.Completed || string(x.Result) != `{"second":"second"}` {
				t.Fatalf("resumed workflow ended %s %s (%s)", x.Status, x.Result, x.Reason)
			}
			if n := sideEffects(log); n["first"] != 1 || n["second"] != 1 {
				t.Errorf("side effects %v, want first and second once each", n)
			}
			if _, err := cli(t, "execution", "resume", id); !strings.Contains(errText(err), "not_running") {
				t.Errorf("resume of an ended workflow: %v, want not_running", err)
			}
		})

		t.Run("cancel while paused", func(t *testing.T) {
			log := filepath.Join(dir, "cancelled.log")
			id := pausedWhileFirstRuns(t, log)
			if _, err := cli(t, "execution", "cancel", id); err != nil {
				t.Fatal(err)
			}
			if x := sys.waitTerminal(id); x.Status != execution.Cancelled {
				t.Fatalf("cancelled paused workflow ended %s (%s)", x.Status, x.Reason)
			}
			for _, c := range sys.executions(url.Values{"parent": {id}}) {
				if c.WorkflowTask == "second" && c.Status != execution.Cancelled {
					t.Errorf("held task second: %s, want cancelled", c.Status)
				}
			}
			if n := sideEffects(log); n["second"] != 0 {
				t.Errorf("second ran after the cancel: %v", n)
			}
		})

		t.Run("pause refused", func(t *testing.T) {
			x, err := sys.api.Run(ctx, "core.noop", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cli(t, "execution", "pause", x.ID); !strings.Contains(errText(err), "not_a_workflow") {
				t.Errorf("pause of an action: %v, want 409 not_a_workflow", err)
			}
		})

		t.Run("rerun from a failed task", func(t *testing.T) {
			log, flag := filepath.Join(dir, "four.log"), filepath.Join(dir, "flag")
			x, err := sys.api.Run(ctx, "pz.four", map[string]json.RawMessage{"log": param(log), "flag": param(flag)})
			if err != nil {
				t.Fatal(err)
			}
			if got := sys.waitTerminal(x.ID); got.Status != execution.Failed {
				t.Fatalf("workflow with c missing its file: %s (%s), want failed", got.Status, got.Reason)
			}
			for _, bad := range [][]string{{"--from-task", "zz"}, {"--from-task", "d"}} {
				if _, err := cli(t, append([]string{"execution", "rerun", x.ID}, bad...)...); !strings.Contains(errText(err), "from_task") {
					t.Errorf("rerun %v: %v, want 422 naming from_task", bad, err)
				}
			}
			if err := os.WriteFile(flag, nil, 0o644); err != nil { // the fix
				t.Fatal(err)
			}
			out, err := cli(t, "execution", "rerun", x.ID, "--from-task", "c", "--json")
			if err != nil {
				t.Fatalf("rerun --from-task c: %v\n%s", err, out)
			}
			var again httpapi.Execution
			if err := json.Unmarshal([]byte(out), &again); err != nil || again.ID == "" {
				t.Fatalf("rerun answered %s: %v", out, err)
			}
			if got := sys.waitTerminal(again.ID); got.Status != execution.Completed || string(got.Result) != `{"d":"d-after-a"}` {
				t.Fatalf("rerun ended %s %s (%s), want completed with a's published var", got.Status, got.Result, got.Reason)
			}
			if got, _ := sys.api.Execution(ctx, again.ID); got.RerunOf != x.ID {
				t.Errorf("rerun_of %q, want %s", got.RerunOf, x.ID)
			}
			if n := sideEffects(log); n["a"] != 1 || n["b"] != 1 || n["c"] != 2 || n["d-after-a"] != 1 {
				t.Errorf("side effects %v: want a and b once (reused), c twice, d once", n)
			}
			if n := requested(again.ID); n["a"] != 0 || n["b"] != 0 || n["c"] != 1 {
				t.Errorf("the rerun requested %v, want c and d alone", n)
			}
			if got, _ := sys.api.Execution(ctx, x.ID); got.Status != execution.Failed {
				t.Errorf("the original is %s now, want it untouched (failed)", got.Status)
			}
		})

		t.Run("rerun failed items", func(t *testing.T) {
			log, okDir := filepath.Join(dir, "items.log"), filepath.Join(dir, "ok")
			if err := os.MkdirAll(okDir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, i := range []string{"1", "3", "5"} {
				_ = os.WriteFile(filepath.Join(okDir, "ok"+i), nil, 0o644)
			}
			x, err := sys.api.Run(ctx, "pz.items", map[string]json.RawMessage{"log": param(log), "dir": param(okDir)})
			if err != nil {
				t.Fatal(err)
			}
			if got := sys.waitTerminal(x.ID); got.Status != execution.Failed {
				t.Fatalf("items 2 and 4 failing: %s (%s), want failed", got.Status, got.Reason)
			}
			for _, i := range []string{"2", "4"} {
				_ = os.WriteFile(filepath.Join(okDir, "ok"+i), nil, 0o644)
			}
			out, err := cli(t, "execution", "rerun", x.ID, "--from-task", "each", "--failed-items", "--json")
			if err != nil {
				t.Fatalf("rerun --failed-items: %v\n%s", err, out)
			}
			var again httpapi.Execution
			_ = json.Unmarshal([]byte(out), &again)
			want := `{"names":["item1","item2","item3","item4","item5"]}`
			if got := sys.waitTerminal(again.ID); got.Status != execution.Completed || string(got.Result) != want {
				t.Fatalf("rerun of failed items ended %s %s (%s), want %s", got.Status, got.Result, got.Reason, want)
			}
			n := sideEffects(log)
			for _, i := range []string{"1", "3", "5"} {
				if n["item"+i] != 1 {
					t.Errorf("item%s ran %d times, want once (reused)", i, n["item"+i])
				}
			}
			for _, i := range []string{"2", "4"} {
				if n["item"+i] != 2 {
					t.Errorf("item%s ran %d times, want twice", i, n["item"+i])
				}
			}
		})

		sys.eventually(30*time.Second, "the relay caught up", sys.relayCaughtUp)
		out, _, err := attune(t, "audit", "verify", "--database-url", sys.dbURL, "--schema", sys.schema.Name, "--catch-up-wait", "10s")
		if err != nil {
			t.Errorf("audit verify: %v\n%s", err, out)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
