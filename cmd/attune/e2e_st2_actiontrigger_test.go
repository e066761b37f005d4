package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// StackStorm rules on core.st2.generic.actiontrigger ("when core.local fails, say so") and
// core.st2.generic.inquiry ("tell the team a question waits") run unchanged: the engine fires
// the triggers from the log, with StackStorm's payloads and status names.
func TestE2EStackStormGenericTriggersFire(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, "inprocess", nil)
	cli := func(args ...string) (string, string, error) {
		return attune(t, append(args, "--url", sys.url, "--config", sys.cliConfig)...)
	}
	dir, err := filepath.Abs("testdata/stackstorm/st2_actiontrigger")
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := cli("pack", "load", dir); err != nil {
		t.Fatalf("pack load: %v\n%s%s", err, out, stderr)
	}
	run := func(params ...string) httpapi.Execution {
		t.Helper()
		out, _, _ := cli(append([]string{"run", "core.local", "--wait", "--json"}, params...)...)
		var x httpapi.Execution
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("run core.local: not an execution: %v\n%s", err, out)
		}
		return x
	}
	ok := run("cmd=true")
	failed := run("cmd=exit 3")
	if ok.Status != execution.Completed || failed.Status != execution.Failed {
		t.Fatalf("core.local runs ended %s and %s, want completed and failed", ok.Status, failed.Status)
	}

	// The failure's trigger event matched the rule: its echo names the run and its exit code.
	want := "core.local " + failed.ID + " failed with 3 (runner builtin)"
	var reported httpapi.Execution
	sys.eventually(60*time.Second, "the rule's execution for "+failed.ID, func() bool {
		for _, x := range sys.executions(url.Values{"rule": {"st2_actiontrigger.on_local_failure"}}) {
			if x.Status.Terminal() {
				reported = x
				return true
			}
		}
		return false
	})
	var p map[string]any
	if err := json.Unmarshal(reported.Parameters, &p); err != nil || p["message"] != want || reported.Status != execution.Completed {
		t.Fatalf("rule execution %s %s: parameters %s, want message %q", reported.ID, reported.Status, reported.Parameters, want)
	}

	// Both endings are on the log as trigger events, the success named as StackStorm names it.
	events := map[string]string{}
	sys.eventually(30*time.Second, "an actiontrigger event for each run", func() bool {
		body := sys.get("/api/v1/events?trigger=core.st2.generic.actiontrigger", sys.adminToken())
		var page struct {
			Items []httpapi.TriggerEvent `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("events: %v\n%s", err, body)
		}
		for _, e := range page.Items {
			var pl struct {
				ExecutionID string `json:"execution_id"`
				Status      string `json:"status"`
			}
			_ = json.Unmarshal(e.Payload, &pl)
			events[pl.ExecutionID] = pl.Status + " from " + string(e.Source)
		}
		return len(events) >= 2
	})
	if events[ok.ID] != "succeeded from engine" || events[failed.ID] != "failed from engine" {
		t.Fatalf("actiontrigger events by execution: %v; want %s succeeded and %s failed, both from the engine", events, ok.ID, failed.ID)
	}

	// A question asked with a route: the inquiry trigger's rule names it and its route.
	out, stderr, err := cli("run", "core.ask", "route=ops-team", "--json")
	if err != nil {
		t.Fatalf("run core.ask: %v\n%s%s", err, out, stderr)
	}
	var asked httpapi.Execution
	if err := json.Unmarshal([]byte(out), &asked); err != nil {
		t.Fatalf("run core.ask: %v\n%s", err, out)
	}
	sys.eventually(60*time.Second, "the inquiry rule's execution", func() bool {
		for _, x := range sys.executions(url.Values{"rule": {"st2_actiontrigger.on_inquiry"}}) {
			if x.Status.Terminal() {
				reported = x
				return true
			}
		}
		return false
	})
	p = nil
	if err := json.Unmarshal(reported.Parameters, &p); err != nil || p["message"] != "inquiry "+asked.ID+" waits for ops-team" {
		t.Fatalf("inquiry rule execution %s: parameters %s, want the inquiry %s and its route", reported.Status, reported.Parameters, asked.ID)
	}
}
