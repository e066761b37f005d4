package main

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// st2OrquestaPack is the StackStorm pack of Orquesta workflows, action-chains and inquiries
// (testdata/stackstorm/st2_orquesta), one per feature, written in StackStorm's shape.
var st2OrquestaPack = filepath.Join("testdata", "stackstorm", "st2_orquesta")

// TestE2EStackStormOrquesta loads the pack with `attune pack load` and runs each workflow with
// `attune run`, asserting that it ends as StackStorm would end it: its status and its result
// ({output: …} for Orquesta, {errors, output} when it fails).
func TestE2EStackStormOrquesta(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	ctx := context.Background()
	cli := func(args ...string) (string, string, error) {
		return attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
	}
	if out, errOut, err := cli("pack", "load", st2OrquestaPack); err != nil || !strings.Contains(out, "st2_orquesta") {
		t.Fatalf("pack load: %v\n%s%s", err, out, errOut)
	}
	// attune run prints the execution; its id is what the rest of the test follows.
	run := func(action string, params ...string) string {
		t.Helper()
		out, errOut, err := cli(append([]string{"run", action, "--json"}, params...)...)
		if err != nil {
			t.Fatalf("attune run %s: %v\n%s%s", action, err, out, errOut)
		}
		var x httpapi.Execution
		if err := json.Unmarshal([]byte(out), &x); err != nil || x.ID == "" {
			t.Fatalf("attune run %s printed %q: %v", action, out, err)
		}
		return x.ID
	}
	marker := filepath.Join(t.TempDir(), "flaky-ran-once")
	ids := map[string]string{
		"sequential":       run("st2_orquesta.sequential", "who=ann"),
		"parallel_join":    run("st2_orquesta.parallel_join"),
		"branching":        run("st2_orquesta.branching", "which=right"),
		"with_items":       run("st2_orquesta.with_items"),
		"retry":            run("st2_orquesta.retry", "marker="+marker),
		"fail_command":     run("st2_orquesta.fail_command"),
		"noop_command":     run("st2_orquesta.noop_command"),
		"continue_command": run("st2_orquesta.continue_command"),
		"retry_command":    run("st2_orquesta.retry_command"),
		"context":          run("st2_orquesta.context"),
		"nested":           run("st2_orquesta.nested"),
		"unhandled":        run("st2_orquesta.unhandled"),
		"chain":            run("st2_orquesta.chain"),
	}
	want := map[string]struct {
		status execution.Status
		result string // the whole result, or for a failure its output
	}{
		"sequential":       {execution.Completed, `{"output":{"loud":"HELLO, ANN","said":"Hello, ann"}}`},
		"parallel_join":    {execution.Completed, `{"output":{"both":"left and right"}}`},
		"branching":        {execution.Completed, `{"output":{"path":"went right"}}`},
		"with_items":       {execution.Completed, `{"output":{"count":3,"greetings":["hi ann","hi bob","hi cy"],"pairs":["ann=1","bob=2","cy=3"]}}`},
		"retry":            {execution.Completed, `{"output":{"outcome":"recovered\n"}}`},
		"fail_command":     {execution.Failed, `{"reason":"disk 95% full"}`},
		"noop_command":     {execution.Completed, `{"output":{"code":4}}`},
		"continue_command": {execution.Failed, `{"code":5}`},
		"retry_command":    {execution.Completed, `{"output":{"tries":2}}`},
		"context":          {execution.Completed, `{"output":{"doubled":20,"plus_one":21,"second":44,"total":54}}`},
		"nested":           {execution.Completed, `{"output":{"inner_said":"Hello, nested"}}`},
		"unhandled":        {execution.Failed, `{"stage":"started"}`},
		"chain":            {execution.Completed, `{"published":{"greeting":"hello world!","recovered":"recovered after hello world!","suffix":"!"}}`},
	}
	for name, id := range ids {
		x := sys.waitTerminal(id)
		w := want[name]
		got := string(x.Result)
		if x.Status == execution.Failed {
			var failed struct {
				Errors []struct{ Message string } `json:"errors"`
				Output json.RawMessage            `json:"output"`
			}
			if err := json.Unmarshal(x.Result, &failed); err != nil || len(failed.Errors) == 0 {
				t.Errorf("%s: failed with result %s, want Orquesta's {errors: […], output}", name, x.Result)
			}
			got = string(failed.Output)
		}
		if x.Status != w.status || !sameJSON(got, w.result) {
			t.Errorf("%s: %s %s (%s)\nwant %s %s", name, x.Status, got, x.Reason, w.status, w.result)
		}
	}
	// What a user reads: `attune execution get` shows StackStorm's result shape.
	if out, errOut, err := cli("execution", "get", ids["sequential"], "--json"); err != nil || !strings.Contains(out, `"output"`) || !strings.Contains(out, `HELLO, ANN`) {
		t.Errorf("attune execution get: %v\n%s%s", err, out, errOut)
	}
	tasks := func(wf string) map[string]int {
		out := map[string]int{}
		for _, c := range sys.executions(url.Values{"parent": {wf}}) {
			out[c.WorkflowTask]++
		}
		return out
	}
	if got := tasks(ids["branching"]); got["go_left"] != 0 || got["go_right"] != 1 {
		t.Errorf("branching ran %v, want go_right only", got)
	}
	if got := tasks(ids["with_items"]); got["greet"] != 3 || got["pair"] != 3 {
		t.Errorf("with_items ran %v, want greet and pair 3 times each", got)
	}
	if got := tasks(ids["retry"]); got["flaky"] != 2 {
		t.Errorf("retry ran %v, want flaky twice", got)
	}
	if got := tasks(ids["retry_command"]); got["attempt"] != 3 {
		t.Errorf("retry_command ran %v, want attempt 3 times", got)
	}
	if got := tasks(ids["unhandled"]); got["never"] != 0 || got["breaks"] != 1 {
		t.Errorf("unhandled ran %v, want breaks once and never not at all", got)
	}
	if got := tasks(ids["parallel_join"]); got["gather"] != 1 {
		t.Errorf("parallel_join ran %v, want gather once", got)
	}

	// A workflow task running core.ask in StackStorm's shape, and an inquirer action: each
	// waits for an answer, which goes on as result().response.
	answer := func(wf, response string) {
		t.Helper()
		var q httpapi.Inquiry
		sys.eventually(30*time.Second, "an inquiry of "+wf+" to be pending", func() bool {
			page, err := sys.api.Inquiries(ctx, url.Values{"parent": {wf}, "status": {"pending"}})
			if err != nil || len(page.Items) == 0 {
				return false
			}
			q = page.Items[0]
			return true
		})
		if _, err := sys.api.Respond(ctx, q.ID, json.RawMessage(response)); err != nil {
			t.Fatalf("respond to %s: %v", q.ID, err)
		}
	}
	approval := run("st2_orquesta.approval")
	answer(approval, `{"approved": true}`)
	if x := sys.waitTerminal(approval); x.Status != execution.Completed || !sameJSON(string(x.Result), `{"output":{"decision":"shipping"}}`) {
		t.Errorf("approval: %s %s (%s), want completed shipping", x.Status, x.Result, x.Reason)
	}
	ask := run("st2_orquesta.ask_ship")
	answer(ask, `{"ship": false}`)
	x := sys.waitTerminal(ask)
	var asked struct {
		Response map[string]any `json:"response"`
		Route    string         `json:"route"`
	}
	if err := json.Unmarshal(x.Result, &asked); err != nil || x.Status != execution.Completed || asked.Response["ship"] != false || asked.Route != "releases" {
		t.Errorf("inquirer action: %s %s (%s), want completed with response {ship: false} and route releases", x.Status, x.Result, x.Reason)
	}
}

// sameJSON compares two JSON texts as values: the order of keys is not part of a result.
func sameJSON(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}
