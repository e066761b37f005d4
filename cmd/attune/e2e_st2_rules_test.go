package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// st2Hook posts body to StackStorm's webhook url st2rules, as curl would, and returns the
// event id.
func (s *system) st2Hook(body string) string {
	s.t.Helper()
	return s.webhook("st2rules", json.RawMessage(body), "X-Source", "curl", "Authorization", "Bearer not-for-the-log")
}

// ranFor waits for the execution rule made of event and returns it ended.
func (s *system) ranFor(rule, event string) httpapi.Execution {
	s.t.Helper()
	var id string
	s.eventually(60*time.Second, "an execution of rule "+rule+" for event "+event, func() bool {
		for _, x := range s.executions(url.Values{"rule": {rule}}) {
			if x.TriggerEvent == event {
				id = x.ID
				return true
			}
		}
		return false
	})
	return s.waitTerminal(id)
}

// params decodes an execution's parameters.
func params(t *testing.T, x httpapi.Execution) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(x.Parameters, &m); err != nil {
		t.Fatalf("parameters of %s: %s: %v", x.ID, x.Parameters, err)
	}
	return m
}

func TestE2EStackStormRulesAndTriggers(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, nil)
		cli := func(args ...string) (string, error) {
			out, stderr, err := attune(t, append(args, "--config", sys.cliConfig, "--url", sys.url)...)
			return out + stderr, err
		}
		const token = "st2rules-s3cr3t-7f2c"
		for _, set := range [][]string{{"st2rules_greeting", "hello from st2kv"}, {"st2rules_token", token, "--secret"}} {
			if out, err := cli(append([]string{"key", "set"}, set...)...); err != nil {
				t.Fatalf("key set %v: %v\n%s", set, err, out)
			}
		}
		dir, err := filepath.Abs("testdata/stackstorm/st2_rules")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := cli("pack", "load", dir); err != nil {
			t.Fatalf("pack load %s: %v\n%s", dir, err, out)
		}

		// A webhook by url, criteria on the body and on a header, Jinja over body and headers;
		// a second rule on the same url fires once for the same post.
		greet := sys.st2Hook(`{"kind": "greet", "name": "Joe", "text": "hi"}`)
		if x := sys.ranFor("st2_rules.webhook_sample", greet); x.Status != execution.Completed || params(t, x)["message"] != "Joe says HI via curl" {
			t.Errorf("webhook_sample: %s %s (%s)", x.Status, x.Parameters, x.Reason)
		}
		if x := sys.ranFor("st2_rules.webhook_twin", greet); x.Status != execution.Completed {
			t.Errorf("webhook_twin: %s (%s)", x.Status, x.Reason)
		}

		// Two criteria on one path (#tag); rendered text cast to the action's declared types.
		inside := sys.st2Hook(`{"kind": "count", "name": "Ann", "count": 15}`)
		x := sys.ranFor("st2_rules.webhook_tagged", inside)
		want := map[string]any{"count": 115.0, "flag": true, "labels": []any{"Ann", "x"}, "message": "15"}
		if got := params(t, x); x.Status != execution.Completed || !reflect.DeepEqual(got, want) {
			t.Errorf("webhook_tagged: %s %v (%s), want parameters %v", x.Status, got, x.Reason, want)
		}
		above := sys.st2Hook(`{"kind": "count", "name": "Ann", "count": 25}`) // fails count#below
		// attune rule test shows the same checks and casts without running anything.
		event := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(event, []byte(`{"body": {"count": 12, "name": "Cy"}, "headers": {}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := cli("rule", "test", "st2_rules.webhook_tagged", "--event", event); err != nil || !strings.Contains(out, "payload.body.count#below") || !strings.Contains(out, "112") || !strings.Contains(out, `"Cy"`) {
			t.Errorf("rule test: %v\n%s", err, out)
		}

		// st2kv.system reads the key-value store.
		if x := sys.ranFor("st2_rules.webhook_kv", sys.st2Hook(`{"kind": "kv", "name": "Bea"}`)); x.Status != execution.Completed || params(t, x)["message"] != "hello from st2kv, Bea" {
			t.Errorf("webhook_kv: %s %s (%s)", x.Status, x.Parameters, x.Reason)
		}
		// A secret key reaches a secret parameter sealed: the run has it, the log never shows it.
		if x := sys.ranFor("st2_rules.webhook_secret", sys.st2Hook(`{"kind": "secret", "name": "Dee"}`)); x.Status != execution.Completed ||
			params(t, x)["message"] != "for Dee" || strings.Contains(string(x.Parameters)+x.Stdout+string(x.Result), token) {
			t.Errorf("webhook_secret: %s %s (%s)", x.Status, x.Parameters, x.Reason)
		}
		// Jinja reading a field the body lacks fails the run, naming the rule and the field.
		if x := sys.ranFor("st2_rules.webhook_missing", sys.st2Hook(`{"kind": "missing"}`)); x.Status != execution.Failed ||
			!strings.Contains(x.Reason, "rule st2_rules.webhook_missing (rules/webhook_missing.yaml)") || !strings.Contains(x.Reason, "trigger.body.nothing_here does not exist") {
			t.Errorf("webhook_missing: %s (%s), want failed naming the rule and the field", x.Status, x.Reason)
		}

		// StackStorm's three timers.
		var tick, cron, date httpapi.Execution
		sys.eventually(60*time.Second, "executions of the interval, cron and date rules", func() bool {
			for _, c := range []struct {
				rule string
				into *httpapi.Execution
			}{{"st2_rules.interval", &tick}, {"st2_rules.cron", &cron}, {"st2_rules.date", &date}} {
				done := sys.executions(url.Values{"rule": {c.rule}, "status": {"completed"}})
				if len(done) == 0 {
					return false
				}
				*c.into = done[0]
			}
			return true
		})
		if m, _ := params(t, tick)["message"].(string); !strings.HasPrefix(m, "interval 1 seconds at 20") {
			t.Errorf("interval: message %q", m)
		}
		if m := params(t, cron)["message"]; m != "cron */2 * * * * 0,1,2,3,4,5,6" {
			t.Errorf("cron: message %q", m)
		}
		if m := params(t, date)["message"]; m != "date 2020-01-01T08:00:00Z" {
			t.Errorf("date (2020-01-01 09:00:00 in Europe/Paris): message %q", m)
		}

		// What the log holds: one enforcement per rule that matched each post, none for the
		// disabled rule or a rule whose criteria failed, and no credential header.
		enforced := map[string][]string{}
		for _, e := range sys.logEvents() {
			if e.Type == "EnforcementCreated" {
				enforced[field(e, "event_id")] = append(enforced[field(e, "event_id")], field(e, "rule"))
			}
			if e.Type == "EventFired" && bytes.Contains(e.Data, []byte("not-for-the-log")) {
				t.Errorf("event %s holds the Authorization header", e.ID)
			}
			if bytes.Contains(e.Data, []byte(token)) {
				t.Errorf("%s %s holds the secret key's value", e.Type, e.ID)
			}
		}
		for event, rules := range map[string][]string{
			greet:  {"st2_rules.webhook_sample", "st2_rules.webhook_twin"},
			inside: {"st2_rules.webhook_tagged", "st2_rules.webhook_twin"},
			above:  {"st2_rules.webhook_twin"},
		} {
			got := enforced[event]
			slices.Sort(got)
			if !slices.Equal(got, rules) {
				t.Errorf("event %s enforced %v, want %v", event, got, rules)
			}
		}
	})
}
