package rulematch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/rulematch"
	"github.com/attune-go/attune/projections/registry"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// rules of the examples pack, by name; each test registers the ones it needs.
var rules = map[string]pack.Rule{
	"all": {Trigger: "examples.ping", Action: "examples.shout",
		Parameters: raw(`{"message": "{{ event.payload.msg }}"}`)},
	"errors": {Trigger: "examples.ping", Action: "examples.shout",
		Criteria:   map[string]pack.Criterion{"payload.level": {Type: "equals", Pattern: raw(`"error"`)}},
		Parameters: raw(`{"message": "{{ event.payload.msg }} (via {{ config.greeting }})"}`)},
	"many": {Trigger: "examples.ping", Action: "examples.shout",
		Expression: "{{ event.payload.count > 3 }}",
		Parameters: raw(`{"message": "many", "count": "{{ event.payload.count }}"}`)},
	"off": {Trigger: "examples.ping", Action: "examples.shout", Parameters: raw(`{"message": "off"}`)},
	"tick_a": {Trigger: "examples.every", Action: "examples.shout", TriggerParams: raw(`{"delta": 2}`),
		Parameters: raw(`{"message": "tick a"}`)},
	"tick_b": {Trigger: "examples.every", Action: "examples.shout", TriggerParams: raw(`{"delta": 5}`),
		Parameters: raw(`{"message": "tick b"}`)},
	"missing": {Trigger: "examples.ping", Action: "examples.shout",
		Parameters: raw(`{"message": "{{ event.payload.x.y }}"}`)},
	"secret": {Trigger: "examples.ping", Action: "examples.shout",
		Parameters: raw(`{"message": "hi", "token": "{{ event.payload.token }}"}`)},
	"gone": {Trigger: "examples.ping", Action: "examples.gone", Parameters: raw(`{"token": "{{ event.payload.token }}"}`)},
}

func examples(names ...string) pack.PackRegistered {
	p := pack.PackRegistered{
		Ref: "examples", Version: "1.0.0", Config: raw(`{"greeting":"hello"}`),
		Actions: []pack.Action{{
			Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerShell, EntryPoint: "shout.sh",
			Parameters: pack.Params{
				"message": {Type: pack.ParamString, Required: true},
				"count":   {Type: pack.ParamInteger},
				"token":   {Type: pack.ParamString, Secret: true},
			},
		}},
		Triggers: []pack.Trigger{
			{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook},
			{Ref: "examples.every", Name: "every", Type: pack.TriggerTimer},
		},
	}
	for _, n := range names {
		r := rules[n]
		r.Ref, r.Name, r.Enabled = "examples."+n, n, n != "off"
		p.Rules = append(p.Rules, r)
	}
	return p
}

type env struct {
	fx  *handlertest.Fixture
	reg *registry.Registry
	box *secret.Box
	h   *rulematch.Handler
}

func setup(t *testing.T) *env {
	t.Helper()
	fx := handlertest.New(t)
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{})
	return &env{fx: fx, reg: reg, box: box, h: rulematch.New(rulematch.Config{Log: fx.Store(), Catalog: reg, Box: box})}
}

// fire records a trigger event after the given history and brings the registry up to it.
func (e *env) fire(t *testing.T, fired trigger.EventFired) eventstore.Recorded {
	t.Helper()
	rec := e.fx.Given(trigger.StreamID(fired.EventID), fired)
	all, err := e.fx.Store().ReadAll(context.Background(), e.reg.Position(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Apply(all...)
	return rec[0]
}

func ping(payload string) trigger.EventFired {
	return trigger.EventFired{EventID: ulid.Make().String(), Trigger: "examples.ping", Payload: raw(payload), Source: trigger.Webhook}
}

// created is the script line of an EnforcementCreated.
func created(ev trigger.EventFired, ruleName, params string) string {
	id := enforcement.ID(ulid.MustParse(ev.EventID), "examples."+ruleName)
	line := fmt.Sprintf("EnforcementCreated enforcement=%s rule=examples.%s trigger=%s event=%s action=examples.shout", id, ruleName, ev.Trigger, ev.EventID)
	if params != "{}" {
		line += " parameters=" + params
	}
	return line
}

func TestOneEventMatchedByThreeRulesMakesThreeEnforcements(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples("all", "errors", "many", "off"))
	ev := ping(`{"level": "error", "msg": "disk full", "count": 5}`)
	rec := e.fire(t, ev)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	e.fx.Then(strings.Join([]string{
		created(ev, "all", `{"message":"disk full"}`),
		created(ev, "errors", `{"message":"disk full (via hello)"}`),
		created(ev, "many", `{"count":5,"message":"many"}`),
	}, "\n"))
	for _, a := range e.fx.Appended() {
		if a.Metadata.CorrelationID != rec.Metadata.CorrelationID {
			t.Errorf("%s correlation %q, want the event's %q", a.Type, a.Metadata.CorrelationID, rec.Metadata.CorrelationID)
		}
	}
}

func TestNothingToEnforce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		rules []string
		event trigger.EventFired
		after func(e *env) // more history before the event
	}{
		{"criteria do not hold", []string{"errors"}, ping(`{"level": "info", "msg": "ok"}`), nil},
		{"the expression is false", []string{"many"}, ping(`{"count": 2}`), nil},
		{"a criterion on a missing path is false", []string{"errors"}, ping(`{"msg": "disk full"}`), nil},
		{"the rule's file disables it", []string{"off"}, ping(`{}`), nil},
		{"an operator disabled it", []string{"all"}, ping(`{"msg": "x"}`), func(e *env) {
			e.fx.Given(rule.StreamID("examples.all"), rule.RuleDisabled{Rule: "examples.all"})
		}},
		{"no rule on the trigger", []string{"tick_a"}, ping(`{"msg": "x"}`), nil},
		{"the pack was retired", []string{"all"}, ping(`{"msg": "x"}`), func(e *env) {
			e.fx.Given(pack.StreamID("examples"), pack.PackRetired{Ref: "examples"})
		}},
		{"a timer tick for a disabled rule", []string{"tick_a"}, tick("tick_a"), func(e *env) {
			e.fx.Given(rule.StreamID("examples.tick_a"), rule.RuleDisabled{Rule: "examples.tick_a"})
		}},
		{"a timer tick for a rule on another trigger", []string{"all"}, tick("all"), nil},
		{"a timer tick for an unknown rule", []string{"tick_a"}, tick("nope"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.fx.Given(pack.StreamID("examples"), examples(tc.rules...))
			if tc.after != nil {
				tc.after(e)
			}
			rec := e.fire(t, tc.event)
			e.fx.WhenRedelivered(e.h.Handle, rec)
			e.fx.Then("")
		})
	}
}

func tick(ruleName string) trigger.EventFired {
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	return trigger.EventFired{
		EventID: trigger.TimerEventID("examples."+ruleName, at).String(), Trigger: "examples.every",
		Payload: raw(`{"executed_at": "2026-01-02T03:04:00Z"}`), Source: trigger.Timer, Rule: "examples." + ruleName, OccurredAt: at,
	}
}

func TestATimerTickEnforcesOnlyItsOwnRule(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples("tick_a", "tick_b"))
	ev := tick("tick_b")
	rec := e.fire(t, ev)
	e.fx.WhenRedelivered(e.h.Handle, rec)
	e.fx.Then(created(ev, "tick_b", `{"message":"tick b"}`))
}

// A template naming a field the event lacks does not drop the run in silence: the
// enforcement is recorded with the failure, naming the rule, its file, the parameter and
// the missing name, and processing it requests the execution failed with that reason.
func TestARenderErrorRecordsTheFailureOnTheEnforcement(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := examples("missing")
	p.Rules[0].File = "rules/missing.yaml"
	e.fx.Given(pack.StreamID("examples"), p)
	ev := ping(`{"msg": "x"}`)
	rec := e.fire(t, ev)
	e.fx.WhenRedelivered(e.h.Handle, rec)
	got := e.appended(t)
	c, ok := got[0].(*enforcement.EnforcementCreated)
	if len(got) != 1 || !ok {
		t.Fatalf("appended %s, want one EnforcementCreated", handlertest.Script(e.fx.Appended()))
	}
	if want := `rule examples.missing (rules/missing.yaml): parameters.message: template "{{ event.payload.x.y }}": event.payload.x does not exist, reading event.payload.x.y`; c.Failure != want {
		t.Errorf("failure\n got %q\nwant %q", c.Failure, want)
	}
}

// appended decodes what the handler appended.
func (e *env) appended(t *testing.T) []any {
	t.Helper()
	var out []any
	for _, r := range e.fx.Appended() {
		ev, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// An expression criterion that cannot be evaluated on the event (a name the payload lacks,
// a comparison of a string with a number) neither matches nor stays silent: the
// enforcement is recorded skipped with the reason. ?? says what a missing field means.
func TestAnExpressionThatCannotBeEvaluatedSkipsTheEnforcementWithTheReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expression, payload, reason string
	}{
		{"a missing field", "{{ event.payload.count > 3 }}", `{"msg": "x"}`,
			`rule examples.many (rules/many.yaml): criteria: expression failed: event.payload.count does not exist`},
		{"a string where a number was meant", "{{ event.payload.count > 3 }}", `{"count": "lots"}`,
			`rule examples.many (rules/many.yaml): criteria: expression failed: invalid operation: string > int`},
		{"a default for the missing field", "{{ (event.payload.count ?? 0) > 3 }}", `{"msg": "x"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			p := examples("many")
			p.Rules[0].File, p.Rules[0].Expression = "rules/many.yaml", tc.expression
			e.fx.Given(pack.StreamID("examples"), p)
			ev := ping(tc.payload)
			rec := e.fire(t, ev)
			e.fx.WhenRedelivered(e.h.Handle, rec)
			if tc.reason == "" {
				e.fx.Then("") // false: no match, nothing to record
				return
			}
			got := e.appended(t)
			if len(got) != 2 {
				t.Fatalf("appended %s, want created and skipped", handlertest.Script(e.fx.Appended()))
			}
			if sk, ok := got[1].(*enforcement.EnforcementSkipped); !ok || sk.Reason != tc.reason {
				t.Errorf("appended %s, want it skipped with\n %q", handlertest.Script(e.fx.Appended()), tc.reason)
			}
		})
	}
}

func TestAnUnregisteredActionIsSkippedWithoutRecordingParameters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples("gone"))
	ev := ping(`{"token": "hunter2"}`)
	rec := e.fire(t, ev)
	e.fx.WhenRedelivered(e.h.Handle, rec)
	id := enforcement.ID(ulid.MustParse(ev.EventID), "examples.gone")
	e.fx.Then(fmt.Sprintf("EnforcementCreated enforcement=%s rule=examples.gone trigger=examples.ping event=%s action=examples.gone\n", id, ev.EventID) +
		fmt.Sprintf(`EnforcementSkipped enforcement=%s reason="action examples.gone is not registered"`, id))
}

func TestSecretParametersAreSealedBeforeTheyAreRecorded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples("secret"))
	rec := e.fire(t, ping(`{"token": "hunter2"}`))
	e.fx.WhenRedelivered(e.h.Handle, rec)

	appended := e.fx.Appended()
	if len(appended) != 1 {
		t.Fatalf("appended %d events, want 1:\n%s", len(appended), handlertest.Script(appended))
	}
	for _, a := range appended {
		if strings.Contains(string(a.Data), "hunter2") {
			t.Errorf("%s holds the secret in plaintext: %s", a.Type, a.Data)
		}
	}
	var c enforcement.EnforcementCreated
	if err := json.Unmarshal(appended[0].Data, &c); err != nil {
		t.Fatal(err)
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Parameters, &params); err != nil {
		t.Fatal(err)
	}
	if !secret.IsSealed(params["token"]) || secret.IsSealed(params["message"]) {
		t.Errorf("parameters %s: want token sealed and message not", c.Parameters)
	}
	opened, err := e.box.OpenParams(c.Parameters, "examples.shout")
	if err != nil || string(opened) != `{"message":"hi","token":"hunter2"}` {
		t.Errorf("opened parameters = %s, %v", opened, err)
	}
}

func TestARegistryBehindTheEventFailsTheDeliveryForARetry(t *testing.T) {
	t.Parallel()
	fx := handlertest.New(t)
	box, _ := secret.New(make([]byte, 32))
	reg := registry.New(registry.Config{}) // never fed: it stays at the start of the log
	h := rulematch.New(rulematch.Config{Log: fx.Store(), Catalog: reg, Box: box, WaitTimeout: 10 * time.Millisecond})
	fx.Given(pack.StreamID("examples"), examples("all"))
	rec := fx.Given(trigger.StreamID("e"), ping(`{"msg": "x"}`))
	if err := fx.Deliver(h.Handle, rec[0]); err == nil {
		t.Error("the handler matched against a catalogue older than the event")
	}
	fx.Then("")
}

func TestAStackStormWebhookEventFiresTheRulesOnItsURLOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := examples()
	for _, h := range []struct{ name, url string }{{"hook_a", "a"}, {"hook_a2", "a"}, {"hook_b", "b"}} {
		p.Rules = append(p.Rules, pack.Rule{Ref: "examples." + h.name, Name: h.name, Enabled: true, Dialect: pack.DialectStackStorm,
			Trigger: rulematch.St2Webhook, TriggerParams: raw(`{"url":"` + h.url + `"}`), Action: "examples.shout",
			Parameters: raw(`{"message": "{{ trigger.body.m }} via {{ trigger.headers['X-Src'] }}", "count": "1{{ trigger.body.n }}"}`)})
	}
	e.fx.Given(pack.StreamID("examples"), p)
	ev := trigger.EventFired{EventID: ulid.Make().String(), Trigger: rulematch.St2Webhook, URL: "a", Source: trigger.Webhook,
		Payload: raw(`{"body": {"m": "x", "n": 2}, "headers": {"X-Src": "curl"}}`)}
	rec := e.fire(t, ev)
	// Without a url (posted through the API) the event is for no rule.
	bare := e.fire(t, trigger.EventFired{EventID: ulid.Make().String(), Trigger: rulematch.St2Webhook, Source: trigger.API, Payload: raw(`{}`)})

	e.fx.When(e.h.Handle, rec, bare)

	line := func(name string) string {
		id := enforcement.ID(ulid.MustParse(ev.EventID), "examples."+name)
		return fmt.Sprintf("EnforcementCreated enforcement=%s rule=examples.%s trigger=%s event=%s action=examples.shout parameters=%s",
			id, name, rulematch.St2Webhook, ev.EventID, `{"count":12,"message":"x via curl"}`)
	}
	e.fx.Then(line("hook_a") + "\n" + line("hook_a2"))
}
