package generictrigger_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/generictrigger"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/projections/registry"
)

const first = "01JQ3V5E8G7ZKX2N4P6R8T0W2Y"

// watcher is a pack with one rule on the action trigger, enabled or not.
func watcher(enabled bool) *pack.PackRegistered {
	return &pack.PackRegistered{Ref: "watch", Version: "1.0.0", Dialect: pack.DialectStackStorm,
		Rules: []pack.Rule{{Ref: "watch.on_end", Name: "on_end", Enabled: enabled, Trigger: generictrigger.ActionTrigger, Action: "core.noop"}}}
}

// setup gives the pack (if any) and the execution's life, and brings the catalogue up to
// the end of the log, as the serve's registry follows it.
func setup(t *testing.T, p *pack.PackRegistered, life []event.Event) (*handlertest.Fixture, *generictrigger.Handler, []eventstore.Recorded) {
	t.Helper()
	fx := handlertest.New(t)
	reg := registry.New(registry.Config{})
	if p != nil {
		fx.Given(pack.StreamID(p.Ref), p)
	}
	rec := fx.Given(execution.StreamID(first), life...)
	all, err := fx.Store().ReadAll(context.Background(), reg.Position(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	reg.Apply(all...)
	return fx, generictrigger.New(generictrigger.Config{Log: fx.Store(), Catalog: reg}), rec
}

// sealed is a secret parameter's value as the log holds it.
func sealed(t *testing.T) json.RawMessage {
	t.Helper()
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := box.Seal(json.RawMessage(`"hunter2"`), secret.Binding{Action: "core.local", Param: "token"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ran(t *testing.T, end execution.Status, result string) []event.Event {
	ch := func(from, to execution.Status) execution.ExecutionStatusChanged {
		return execution.ExecutionStatusChanged{ExecutionID: first, From: from, To: to}
	}
	last := ch(execution.Running, end)
	last.Result = json.RawMessage(result)
	return []event.Event{
		execution.ExecutionRequested{ExecutionID: first, Action: "core.local", RunnerType: "builtin",
			Parameters: json.RawMessage(`{"cmd":"exit 3","token":` + string(sealed(t)) + `}`)},
		ch(execution.Requested, execution.Scheduling),
		ch(execution.Scheduling, execution.Scheduled),
		ch(execution.Scheduled, execution.Running),
		last,
	}
}

// An ending fires the trigger once, however often it is delivered, with StackStorm's
// payload: its status names, the action, the runner, the result and the parameters with
// the sealed (secret) ones masked. The other status changes fire nothing.
func TestAnEndingFiresTheTriggerOnce(t *testing.T) {
	t.Parallel()
	fx, h, rec := setup(t, watcher(true), ran(t, execution.Cancelled, `{"return_code":3}`))

	fx.WhenRedelivered(h.Handle, rec[1:]...)

	appended := fx.Appended()
	if len(appended) != 1 {
		t.Fatalf("appended %d events, want one EventFired:\n%s", len(appended), handlertest.Script(appended))
	}
	d, err := appended[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	fired := d.(*trigger.EventFired)
	if fired.Trigger != generictrigger.ActionTrigger || fired.Source != trigger.Engine || appended[0].StreamID != trigger.StreamID(fired.EventID) {
		t.Fatalf("fired %+v in %s", fired, appended[0].StreamID)
	}
	var got map[string]any
	if err := json.Unmarshal(fired.Payload, &got); err != nil {
		t.Fatal(err)
	}
	delete(got, "start_timestamp")
	want := map[string]any{"execution_id": first, "status": "canceled", "action_name": "local", "action_ref": "core.local",
		"runner_ref": "builtin", "parameters": map[string]any{"cmd": "exit 3", "token": "********"}, "result": map[string]any{"return_code": 3.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("payload %v\nwant %v", got, want)
	}
}

// With no enabled rule on the trigger nothing is appended: an engine that does not use it
// does not double its log.
func TestNoRuleNoEvent(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*pack.PackRegistered{"no pack": nil, "rule disabled": watcher(false)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx, h, rec := setup(t, p, ran(t, execution.Completed, `{}`))
			fx.When(h.Handle, rec[4])
			fx.Then(``)
		})
	}
}

// A new inquiry fires core.st2.generic.inquiry once, with its id and route, when a rule is
// on it; without one, nothing.
func TestAnInquiryFiresTheInquiryTriggerOnce(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*pack.PackRegistered{"rule on it": inquiryWatcher(), "no rule": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx, h, rec := setup(t, p, []event.Event{inquiry.InquiryCreated{InquiryID: first, ExecutionID: first, Route: "ops",
				Schema: json.RawMessage(`{}`), SchemaKind: inquiry.SchemaFlat, TTLSeconds: 60}})
			fx.WhenRedelivered(h.Inquiry, rec...)
			if p == nil {
				fx.Then(``)
				return
			}
			appended := fx.Appended()
			if len(appended) != 1 {
				t.Fatalf("appended %d events, want one:\n%s", len(appended), handlertest.Script(appended))
			}
			d, err := appended[0].Decode()
			if err != nil {
				t.Fatal(err)
			}
			fired := d.(*trigger.EventFired)
			if fired.Trigger != generictrigger.InquiryTrigger || fired.Source != trigger.Engine || string(fired.Payload) != `{"id":"`+first+`","route":"ops"}` {
				t.Fatalf("fired %+v payload %s", fired, fired.Payload)
			}
		})
	}
}

func inquiryWatcher() *pack.PackRegistered {
	p := watcher(true)
	p.Rules[0].Trigger = generictrigger.InquiryTrigger
	return p
}
