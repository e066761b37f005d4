package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// e2ePack is the pack the end-to-end scenarios run: real shell, Python and Node actions,
// webhook triggers and rules with criteria.
func e2ePack(t *testing.T) string {
	return writePack(t, map[string]string{
		"pack.yaml": "ref: e2e\nversion: 1.0.0\ndescription: End-to-end scenarios\nconfig: {greeting: hello}\n",

		"actions/fail.yaml": "name: fail\nrunner_type: shell\nentry_point: fail.sh\n",
		"actions/fail.sh":   "echo 'about to fail'\necho 'boom: the disk is on fire' >&2\nexit 3\n",

		"actions/slow.yaml": "name: slow\nrunner_type: python\nentry_point: slow.py\ntimeout: 1\n" +
			"parameters:\n  pidfile: {type: string, required: true}\n",
		"actions/slow.py": "import json, os, subprocess, sys, time\n" +
			"p = json.load(sys.stdin)\n" +
			"child = subprocess.Popen(['sleep', '300'])\n" +
			"open(p['pidfile'], 'w').write('%d %d' % (os.getpid(), child.pid))\n" +
			"time.sleep(300)\n",

		"actions/add.yaml": "name: add\nrunner_type: python\nentry_point: add.py\n" +
			"parameters:\n  a: {type: integer, required: true}\n  b: {type: integer, required: true}\n",
		"actions/add.py": "import json, sys\np = json.load(sys.stdin)\nprint(json.dumps({'sum': p['a'] + p['b']}))\n",

		"actions/greet.yaml": "name: greet\nrunner_type: node\nentry_point: greet.js\n" +
			"parameters:\n  name: {type: string, required: true}\n",
		"actions/greet.js": "let s = '';\nprocess.stdin.on('data', d => s += d);\n" +
			"process.stdin.on('end', () => { const p = JSON.parse(s); console.log(JSON.stringify({greeting: 'hello, ' + p.name})); });\n",

		"actions/needs.yaml": "name: needs\nrunner_type: shell\nentry_point: needs.sh\n" +
			"parameters:\n  name: {type: string, required: true}\n",
		"actions/needs.sh": "cat\n",

		"actions/nap.yaml": "name: nap\nrunner_type: python\nentry_point: nap.py\ntimeout: 300\n" +
			"parameters:\n  pidfile: {type: string, required: true}\n",
		"actions/nap.py": "import json, os, sys, time\np = json.load(sys.stdin)\nopen(p['pidfile'], 'w').write(str(os.getpid()))\ntime.sleep(120)\n",

		"triggers/hook.yaml":  "name: hook\ntype: webhook\npayload_schema:\n  level: {type: string}\n  msg: {type: string, required: true}\n",
		"triggers/multi.yaml": "name: multi\ntype: webhook\n",
		"triggers/typed.yaml": "name: typed\ntype: webhook\n",

		"rules/on_error.yaml": "name: on_error\ntrigger: e2e.hook\ncriteria:\n  payload.level: {type: equals, pattern: error}\n" +
			"action: core.echo\nparameters:\n  message: \"{{ event.payload.msg }} ({{ config.greeting }})\"\n",
		"rules/multi_a.yaml": "name: multi_a\ntrigger: e2e.multi\naction: core.echo\nparameters: {message: a}\n",
		"rules/multi_b.yaml": "name: multi_b\ntrigger: e2e.multi\naction: core.echo\nparameters: {message: b}\n",
		"rules/multi_c.yaml": "name: multi_c\ntrigger: e2e.multi\naction: core.echo\nparameters: {message: c}\n",
		// name is rendered from the payload: a number there breaks the action's schema.
		"rules/typed.yaml": "name: typed\ntrigger: e2e.typed\naction: e2e.needs\nparameters:\n  name: \"{{ event.payload.name }}\"\n",
	})
}

func forEachTransport(t *testing.T, test func(t *testing.T, transport string)) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			test(t, tr)
		})
	}
}

func TestE2ETimersFireOnSchedule(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		date := time.Now().UTC().Add(4 * time.Second).Truncate(time.Second)
		clock := writePack(t, map[string]string{
			"pack.yaml": "ref: clock\nversion: 1.0.0\n",
			"rules/every_second.yaml": "name: every_second\ntrigger: core.intervaltimer\ntrigger_params: {unit: seconds, delta: 1}\n" +
				"action: core.echo\nparameters: {message: \"hello, world\"}\n",
			"rules/even_seconds.yaml": "name: even_seconds\ntrigger: core.crontimer\ntrigger_params: {expression: \"*/2 * * * * *\"}\naction: core.noop\n",
			"rules/once.yaml":         fmt.Sprintf("name: once\ntrigger: core.datetimer\ntrigger_params: {date: %q}\naction: core.noop\n", date.Format(time.RFC3339)),
		})
		sys := startSystem(t, transport, []string{clock})

		sys.eventually(30*time.Second, "3 completed executions of clock.every_second", func() bool {
			return len(sys.executions(url.Values{"rule": {"clock.every_second"}, "status": {"completed"}})) >= 3
		})
		// Stop the interval timer so its counts settle, as an operator would.
		if err := sys.api.SetRuleEnabled(context.Background(), "clock.every_second", false); err != nil {
			t.Fatal(err)
		}
		sys.eventually(30*time.Second, "the date timer's one-shot to run and the last ticks to settle", func() bool {
			xs := sys.executions(url.Values{"rule": {"clock.every_second"}})
			for _, x := range xs {
				if !x.Status.Terminal() {
					return false
				}
			}
			return time.Now().After(date.Add(2*time.Second)) && len(sys.executions(url.Values{"rule": {"clock.once"}, "status": {"completed"}})) == 1
		})
		settled := sys.executions(url.Values{"rule": {"clock.every_second"}})
		// The disabled timer must stay silent. Barrier, not a sleep: count its events in the
		// log (after a log barrier), wait for a tick of the still-enabled even-seconds timer
		// three seconds on — the every-second timer, had it kept running, would have fired
		// meanwhile — and count again after another log barrier.
		forEvery := func(e eventstore.Recorded) bool { return field(e, "rule") == "clock.every_second" }
		before := countTypes(sys.barrier(), forEvery)["EventFired"]
		quietFrom := time.Now()
		sys.eventually(30*time.Second, "a tick of the even-seconds timer three seconds on", func() bool {
			for _, x := range sys.executions(url.Values{"rule": {"clock.even_seconds"}, "status": {"completed"}}) {
				if x.CreatedAt.After(quietFrom.Add(3 * time.Second)) {
					return true
				}
			}
			return false
		})
		log := sys.barrier()
		if after := countTypes(log, forEvery)["EventFired"]; after != before {
			t.Errorf("the disabled interval timer still fired: %d events, then %d", before, after)
		}

		forRule := func(rule string) func(eventstore.Recorded) bool {
			return func(e eventstore.Recorded) bool { return field(e, "rule") == rule }
		}
		// A tick recorded before the rule's RuleDisabled is enforced once; one the timer fired
		// while it was being stopped, after RuleDisabled in the log, is not: rulematch decides
		// with the catalogue as of the event's position.
		disabled := slices.IndexFunc(log, func(e eventstore.Recorded) bool {
			return e.Type == "RuleDisabled" && field(e, "rule") == "clock.every_second"
		})
		enforced := map[string]int{}
		for _, e := range log {
			if e.Type == "EnforcementCreated" && field(e, "rule") == "clock.every_second" {
				enforced[field(e, "event_id")]++
			}
		}
		ticks := 0
		for i, e := range log {
			if e.Type != "EventFired" || field(e, "rule") != "clock.every_second" {
				continue
			}
			want := 1
			if disabled >= 0 && i > disabled {
				want = 0
			} else {
				ticks++
			}
			if got := enforced[field(e, "event_id")]; got != want {
				t.Errorf("interval tick %s (log index %d, RuleDisabled at %d): %d enforcements, want %d", field(e, "event_id"), i, disabled, got, want)
			}
		}
		every := countTypes(log, forRule("clock.every_second"))
		if ticks < 3 || every["EnforcementCreated"] != every["ExecutionRequested"] {
			t.Errorf("interval timer: %d ticks before the disable, %d enforcements, %d executions; want at least 3, one execution per enforcement",
				ticks, every["EnforcementCreated"], every["ExecutionRequested"])
		}
		for _, x := range settled {
			if x.Status != execution.Completed || !strings.Contains(string(x.Result), "hello, world") {
				t.Errorf("interval execution %s: %s %s, want completed with \"hello, world\"", x.ID, x.Status, x.Result)
			}
		}

		var evenTicks int
		for _, e := range log {
			if e.Type != "EventFired" || field(e, "rule") != "clock.even_seconds" {
				continue
			}
			var p struct {
				Payload struct {
					ExecutedAt time.Time `json:"executed_at"`
				} `json:"payload"`
			}
			_ = json.Unmarshal(e.Data, &p)
			if p.Payload.ExecutedAt.Second()%2 != 0 || p.Payload.ExecutedAt.Nanosecond() != 0 {
				t.Errorf("cron */2 fired at %s, not at an even second", p.Payload.ExecutedAt)
			}
			evenTicks++
		}
		if evenTicks < 2 {
			t.Errorf("cron */2 fired %d times in several seconds, want at least 2", evenTicks)
		}
		if once := countTypes(log, forRule("clock.once")); once["EventFired"] != 1 {
			t.Errorf("date timer fired %d times, want exactly once", once["EventFired"])
		}
	})
}

func TestE2EWebhooksRunMatchingRules(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{e2ePack(t)})

		match := sys.webhook("e2e.hook", map[string]any{"level": "error", "msg": "disk full"})
		miss := sys.webhook("e2e.hook", map[string]any{"level": "info", "msg": "all good"})
		multi := sys.webhook("e2e.multi", map[string]any{})

		sys.eventually(30*time.Second, "the matching webhook's execution and the three rules' executions", func() bool {
			return len(sys.executions(url.Values{"rule": {"e2e.on_error"}, "status": {"completed"}})) == 1 &&
				len(sys.executions(url.Values{"trigger": {"e2e.multi"}, "status": {"completed"}})) == 3
		})
		x := sys.executions(url.Values{"rule": {"e2e.on_error"}})[0]
		if x.TriggerEvent != match || !strings.Contains(string(x.Result), "disk full (hello)") {
			t.Errorf("on_error ran for event %s with result %s; want event %s and \"disk full (hello)\"", x.TriggerEvent, x.Result, match)
		}

		log := sys.logEvents()
		ofEvent := func(id string) func(eventstore.Recorded) bool {
			return func(e eventstore.Recorded) bool { return field(e, "event_id") == id }
		}
		if n := countTypes(log, ofEvent(miss)); n["EnforcementCreated"] != 0 || n["ExecutionRequested"] != 0 {
			t.Errorf("the payload that fails the criteria caused %v; want nothing", n)
		}
		if n := countTypes(log, ofEvent(multi)); n["EventFired"] != 1 || n["EnforcementCreated"] != 3 || n["ExecutionRequested"] != 3 {
			t.Errorf("one webhook matched by three rules: %v; want 1 event, 3 enforcements, 3 executions", n)
		}
		rules := map[string]bool{}
		for _, x := range sys.executions(url.Values{"trigger": {"e2e.multi"}}) {
			rules[x.Rule] = true
		}
		if len(rules) != 3 {
			t.Errorf("the three executions came from rules %v, want multi_a, multi_b and multi_c", rules)
		}
	})
}

func TestE2EActionOutcomes(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{e2ePack(t)})
		ctx := context.Background()
		run := func(action string, params map[string]any) string {
			t.Helper()
			raw := map[string]json.RawMessage{}
			for k, v := range params {
				raw[k], _ = json.Marshal(v)
			}
			x, err := sys.api.Run(ctx, action, raw)
			if err != nil {
				t.Fatalf("run %s: %v", action, err)
			}
			return x.ID
		}
		pidfile := filepath.Join(t.TempDir(), "pids")
		failID := run("e2e.fail", nil)
		slowID := run("e2e.slow", map[string]any{"pidfile": pidfile})
		addID := run("e2e.add", map[string]any{"a": 2, "b": 40})
		greetID := run("e2e.greet", map[string]any{"name": "node"})

		if x := sys.waitTerminal(failID); x.Status != execution.Failed || x.ExitCode == nil || *x.ExitCode != 3 ||
			!strings.Contains(x.Stderr, "boom: the disk is on fire") {
			t.Errorf("failing action: %s exit %v stderr %q; want failed, exit 3, its stderr", x.Status, x.ExitCode, x.Stderr)
		}
		if x := sys.waitTerminal(addID); x.Status != execution.Completed || string(x.Result) != `{"sum":42}` {
			t.Errorf("python action: %s %s; want completed {\"sum\":42}", x.Status, x.Result)
		}
		if x := sys.waitTerminal(greetID); x.Status != execution.Completed || string(x.Result) != `{"greeting":"hello, node"}` {
			t.Errorf("node action: %s %s; want completed {\"greeting\":\"hello, node\"}", x.Status, x.Result)
		}
		if x := sys.waitTerminal(slowID); x.Status != execution.Timeout {
			t.Errorf("action past its timeout: %s (%s); want timeout", x.Status, x.Reason)
		}
		raw, err := os.ReadFile(pidfile)
		if err != nil {
			t.Fatalf("the slow action never started: %v", err)
		}
		for _, f := range strings.Fields(string(raw)) {
			pid, _ := strconv.Atoi(f)
			sys.eventually(10*time.Second, fmt.Sprintf("process %d of the timed-out action to be gone", pid), func() bool {
				return syscall.Kill(pid, 0) == syscall.ESRCH
			})
		}
	})
}

func TestE2EInvalidParametersNeverReachAWorker(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		sys := startSystem(t, transport, []string{e2ePack(t)})

		// Through the API: refused with the field, nothing recorded.
		_, err := sys.api.Run(context.Background(), "e2e.needs", nil)
		var apiErr *apiclient.APIError
		if !asAPIError(err, &apiErr) || apiErr.Status != 422 || apiErr.Field != "parameters.name" {
			t.Fatalf("run without a required parameter: %v; want 422 naming parameters.name", err)
		}

		// Through a rule: the rendered value has the wrong type, so the execution fails with
		// the reason in the same append that requests it.
		sys.webhook("e2e.typed", map[string]any{"name": 42})
		sys.eventually(30*time.Second, "the rule's execution to fail", func() bool {
			return len(sys.executions(url.Values{"rule": {"e2e.typed"}, "status": {"failed"}})) == 1
		})
		x := sys.executions(url.Values{"rule": {"e2e.typed"}})[0]
		if !strings.Contains(x.Reason, `"name"`) {
			t.Errorf("reason %q should name the parameter", x.Reason)
		}
		history, err := sys.api.History(context.Background(), x.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range history {
			if e.Type == "ExecutionScheduled" {
				t.Errorf("an execution with invalid parameters was scheduled on a worker: %s", e.Data)
			}
		}
		if x.Worker != "" {
			t.Errorf("an execution with invalid parameters reached worker %s", x.Worker)
		}
	})
}

func asAPIError(err error, target **apiclient.APIError) bool {
	e, ok := err.(*apiclient.APIError)
	if ok {
		*target = e
	}
	return ok
}
