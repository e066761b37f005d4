package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/domain/rule"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/registry"
)

// fixture is a log and a registry folding it.
type fixture struct {
	t     *testing.T
	store *memstore.Store
	reg   *registry.Registry
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, store: memstore.New(memstore.Config{}), reg: registry.New(registry.Config{})}
}

// append writes events to a stream and folds the log into the registry.
func (f *fixture) append(stream string, events ...event.Event) []eventstore.Recorded {
	f.t.Helper()
	ctx := context.Background()
	var ps []eventstore.Proposed
	for _, e := range events {
		p, err := eventstore.NewProposed(e, event.Metadata{Actor: "test"})
		if err != nil {
			f.t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if _, err := f.store.Append(ctx, stream, eventstore.Any, ps...); err != nil {
		f.t.Fatal(err)
	}
	all, err := f.store.ReadAll(ctx, f.reg.Position(), 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	f.reg.Apply(all...)
	return all
}

func examples(version string, rules ...pack.Rule) pack.PackRegistered {
	return pack.PackRegistered{
		Ref: "examples", Version: version, Config: json.RawMessage(`{"greeting":"hello"}`), Path: "/packs/examples",
		Actions: []pack.Action{{
			Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerPython, EntryPoint: "shout.py",
			Parameters: pack.Params{"message": {Type: pack.ParamString, Required: true}},
		}},
		Triggers: []pack.Trigger{
			{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook},
			{Ref: "examples.every", Name: "every", Type: pack.TriggerTimer},
		},
		Sensors: []pack.Sensor{
			{Ref: "examples.watch", Name: "watch", Enabled: true, RunnerType: pack.RunnerShell, EntryPoint: "watch.sh", Triggers: []string{"examples.ping"}},
			{Ref: "examples.idle", Name: "idle", Enabled: false, RunnerType: pack.RunnerShell, EntryPoint: "idle.sh", Triggers: []string{"examples.ping"}},
		},
		Rules: rules,
	}
}

func onPing(name string, enabled bool) pack.Rule {
	return pack.Rule{Ref: "examples." + name, Name: name, Enabled: enabled, Trigger: "examples.ping", Action: "examples.shout"}
}

func refs(rules []pack.Rule) []string {
	out := []string{}
	for _, r := range rules {
		out = append(out, r.Ref)
	}
	return out
}

func TestARegisteredPackAnswersEveryQuery(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tick := pack.Rule{Ref: "examples.tick", Name: "tick", Enabled: true, Trigger: "examples.every", Action: "examples.shout", TriggerParams: json.RawMessage(`{"delta":2}`)}
	f.append(pack.StreamID("examples"), examples("1.0.0", onPing("b", true), onPing("a", true), onPing("off", false), tick))

	if a, ok := f.reg.Action("examples.shout"); !ok || a.RunnerType != pack.RunnerPython || !a.Parameters["message"].Required {
		t.Errorf("Action = %+v, %v", a, ok)
	}
	if tr, ok := f.reg.Trigger("examples.every"); !ok || tr.Type != pack.TriggerTimer {
		t.Errorf("Trigger = %+v, %v", tr, ok)
	}
	if got := refs(f.reg.EnabledRulesFor("examples.ping")); !slices.Equal(got, []string{"examples.a", "examples.b"}) {
		t.Errorf("EnabledRulesFor(examples.ping) = %v", got)
	}
	if got := refs(f.reg.TimerRules()); !slices.Equal(got, []string{"examples.tick"}) {
		t.Errorf("TimerRules = %v", got)
	}
	if got := refs(f.reg.Rules()); !slices.Equal(got, []string{"examples.a", "examples.b", "examples.off", "examples.tick"}) {
		t.Errorf("Rules = %v", got)
	}
	if r, ok := f.reg.Rule("examples.off"); !ok || r.Enabled {
		t.Errorf("Rule(examples.off) = %+v, %v; want it known and disabled", r, ok)
	}
	if got := f.reg.Sensors(); len(got) != 1 || got[0].Ref != "examples.watch" {
		t.Errorf("Sensors = %+v, want only the enabled examples.watch", got)
	}
	if got := string(f.reg.PackConfig("examples.shout")); got != `{"greeting":"hello"}` {
		t.Errorf("PackConfig(examples.shout) = %s", got)
	}
	if got := string(f.reg.PackConfig("examples")); got != `{"greeting":"hello"}` {
		t.Errorf("PackConfig(examples) = %s", got)
	}
	if p, ok := f.reg.Pack("examples"); !ok || p.Path != "/packs/examples" || len(p.Rules) != 4 {
		t.Errorf("Pack = %+v, %v", p, ok)
	}
	if _, ok := f.reg.Action("examples.nope"); ok {
		t.Error("an unknown action is found")
	}
}

func TestAReloadReplacesThePackAndRetirementDropsIt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true), onPing("b", true)))

	reload := examples("1.1.0", onPing("a", true))
	reload.Actions = nil // the action is gone from the files
	f.append(pack.StreamID("examples"), reload)
	if got := refs(f.reg.EnabledRulesFor("examples.ping")); !slices.Equal(got, []string{"examples.a"}) {
		t.Errorf("after the reload EnabledRulesFor = %v, want only examples.a", got)
	}
	if _, ok := f.reg.Rule("examples.b"); ok {
		t.Error("a rule dropped from the files is still known")
	}
	if _, ok := f.reg.Action("examples.shout"); ok {
		t.Error("an action dropped from the files is still known")
	}

	f.append(pack.StreamID("examples"), pack.PackRetired{Ref: "examples", Reason: "removed"})
	if _, ok := f.reg.Pack("examples"); ok {
		t.Error("a retired pack is still known")
	}
	if got := f.reg.EnabledRulesFor("examples.ping"); len(got) != 0 {
		t.Errorf("a retired pack's rules still match: %v", refs(got))
	}
	if _, ok := f.reg.Trigger("examples.ping"); ok {
		t.Error("a retired pack's trigger is still known")
	}
}

func TestTheLatestOfTheFileAndTheOperatorDecidesARule(t *testing.T) {
	t.Parallel()
	enabled := func(f *fixture) bool {
		r, ok := f.reg.Rule("examples.a")
		if !ok {
			f.t.Fatal("rule examples.a unknown")
		}
		return r.Enabled
	}
	disable := rule.RuleDisabled{Rule: "examples.a"}
	enable := rule.RuleEnabled{Rule: "examples.a"}
	cases := []struct {
		name  string
		steps func(f *fixture)
		want  bool
	}{
		{"the file enables it", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
		}, true},
		{"an operator disables it", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
			f.append(rule.StreamID("examples.a"), disable)
		}, false},
		{"a reload of an unchanged file keeps the operator's choice", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
			f.append(rule.StreamID("examples.a"), disable)
			f.append(pack.StreamID("examples"), examples("1.0.1", onPing("a", true)))
		}, false},
		{"a reload that changes the file's value overrides an earlier switch", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", false)))
			f.append(rule.StreamID("examples.a"), enable)
			f.append(pack.StreamID("examples"), examples("1.0.1", onPing("a", true)))
			f.append(pack.StreamID("examples"), examples("1.0.2", onPing("a", false)))
		}, false},
		{"an operator enables a rule its file disables", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", false)))
			f.append(rule.StreamID("examples.a"), enable)
			f.append(pack.StreamID("examples"), examples("1.0.1", onPing("a", false)))
		}, true},
		{"a rule retired and added again starts from its file", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
			f.append(rule.StreamID("examples.a"), disable)
			f.append(pack.StreamID("examples"), examples("1.0.1"))
			f.append(pack.StreamID("examples"), examples("1.0.2", onPing("a", true)))
		}, true},
		{"switched off and on again", func(f *fixture) {
			f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
			f.append(rule.StreamID("examples.a"), disable, enable)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			tc.steps(f)
			if got := enabled(f); got != tc.want {
				t.Errorf("enabled = %v, want %v", got, tc.want)
			}
			inList := len(f.reg.EnabledRulesFor("examples.ping")) == 1
			if inList != tc.want {
				t.Errorf("EnabledRulesFor lists it: %v, want %v", inList, tc.want)
			}
		})
	}
}

func TestFollowWaitForAndChanged(t *testing.T) {
	t.Parallel()
	store := memstore.New(memstore.Config{})
	reg := registry.New(registry.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- reg.Follow(ctx, store) }()

	changed := reg.Changed()
	p, err := eventstore.NewProposed(examples("1.0.0", onPing("a", true)), event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, pack.StreamID("examples"), eventstore.NoStream, p); err != nil {
		t.Fatal(err)
	}
	rec, err := store.ReadStream(ctx, pack.StreamID("examples"))
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := reg.WaitFor(waitCtx, rec[0].Position); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	if _, ok := reg.Rule("examples.a"); !ok {
		t.Error("after WaitFor the registration is not folded")
	}
	select {
	case <-changed:
	default:
		t.Error("Changed was not closed by a registration")
	}

	// A position the log has not reached: WaitFor waits, then gives up with the context.
	short, stopShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stopShort()
	if err := reg.WaitFor(short, eventstore.Position{Minor: 99}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor a future position = %v, want the context's deadline", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow returned %v after its context ended, want nil", err)
	}
	if err := reg.WaitFor(context.Background(), eventstore.Position{Minor: 99}); !errors.Is(err, registry.ErrStopped) {
		t.Errorf("WaitFor after Follow returned = %v, want ErrStopped", err)
	}
}

func TestEventsOfOtherTypesMoveThePositionOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	changed := f.reg.Changed()
	f.append(rule.StreamID("examples.unknown"), rule.RuleEnabled{Rule: "examples.unknown"})
	// A switch of an unknown rule is a change (the rule may come later) but defines nothing.
	if got := f.reg.Rules(); len(got) != 0 {
		t.Errorf("Rules = %v", refs(got))
	}
	select {
	case <-changed:
	default:
		t.Error("a rule switch did not signal a change")
	}
	changed = f.reg.Changed()
	other, err := eventstore.NewProposed(pack.PackRetired{Ref: "nothing"}, event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	other.Type = "ExecutionRequested"
	other.Data = json.RawMessage(`{"execution_id":"x","action":"a.b"}`)
	if _, err := f.store.Append(context.Background(), "execution-y", eventstore.NoStream, other); err != nil {
		t.Fatal(err)
	}
	all, _ := f.store.ReadAll(context.Background(), f.reg.Position(), 10)
	f.reg.Apply(all...)
	if f.reg.Position() != all[0].Position {
		t.Errorf("Position = %s, want %s", f.reg.Position(), all[0].Position)
	}
	select {
	case <-changed:
		t.Error("an event of another type signalled a change")
	default:
	}
}

func TestAnUndecodableEventIsSkippedAndFoldingGoesOn(t *testing.T) {
	t.Parallel()
	f := setup(t)
	bad, err := eventstore.NewProposed(examples("1.0.0"), event.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	bad.Data = json.RawMessage(`{"ref": 42}`)
	if _, err := f.store.Append(context.Background(), pack.StreamID("broken"), eventstore.NoStream, bad); err != nil {
		t.Fatal(err)
	}
	f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
	if f.reg.Skipped() != 1 {
		t.Errorf("Skipped = %d, want 1", f.reg.Skipped())
	}
	if _, ok := f.reg.Rule("examples.a"); !ok {
		t.Error("the registration after the bad event was not folded")
	}
}

func TestWhatItReturnsIsTheCallersCopy(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := onPing("a", true)
	r.Criteria = map[string]pack.Criterion{"payload.x": {Type: "exists"}}
	f.append(pack.StreamID("examples"), examples("1.0.0", r))

	a, _ := f.reg.Action("examples.shout")
	a.Parameters["message"] = pack.Param{Type: pack.ParamInteger}
	delete(a.Parameters, "message")
	got, _ := f.reg.Rule("examples.a")
	got.Criteria["payload.y"] = pack.Criterion{Type: "exists"}
	p, _ := f.reg.Pack("examples")
	p.Rules[0].Trigger = "changed"

	if a, _ := f.reg.Action("examples.shout"); a.Parameters["message"].Type != pack.ParamString {
		t.Error("changing a returned action changed the registry")
	}
	if r, _ := f.reg.Rule("examples.a"); len(r.Criteria) != 1 || r.Trigger != "examples.ping" {
		t.Error("changing a returned rule or pack changed the registry")
	}
}

func TestWatchCallsOnceNowAndOnceAfterAChange(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan int, 10)
	done := make(chan error, 1)
	go func() {
		done <- f.reg.Watch(ctx, func() {
			calls <- len(f.reg.Rules())
		})
	}()
	if got := <-calls; got != 0 {
		t.Errorf("first call saw %d rules, want 0", got)
	}
	f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
	if got := <-calls; got != 1 {
		t.Errorf("call after the registration saw %d rules, want 1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
}

func TestEnabledPoliciesForListsAnActionsEnabledPoliciesOfEveryPackInRefOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ex := examples("1.0.0")
	ex.Policies = []pack.Policy{
		{Ref: "examples.z_limit", Name: "z_limit", Enabled: true, Action: "examples.shout", Type: policy.RateLimit,
			RateLimit: &policy.RateLimitSpec{Limit: 2, WindowSeconds: 5, Mode: policy.Enqueue}},
		{Ref: "examples.a_one", Name: "a_one", Enabled: true, Action: "examples.shout", Type: policy.Concurrency,
			Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: policy.Enqueue, Attributes: []string{"message"}}},
		{Ref: "examples.off", Name: "off", Enabled: false, Action: "examples.shout", Type: policy.Concurrency,
			Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: policy.Cancel}},
	}
	other := pack.PackRegistered{Ref: "ops", Version: "1.0.0", Policies: []pack.Policy{
		{Ref: "ops.calm", Name: "calm", Enabled: true, Action: "examples.shout", Type: policy.Concurrency,
			Concurrency: &policy.ConcurrencySpec{Threshold: 3, Mode: policy.Cancel}},
		{Ref: "ops.elsewhere", Name: "elsewhere", Enabled: true, Action: "core.http", Type: policy.Concurrency,
			Concurrency: &policy.ConcurrencySpec{Threshold: 3, Mode: policy.Cancel}},
	}}
	f.append(pack.StreamID("examples"), ex)
	f.append(pack.StreamID("ops"), other)
	got := f.reg.EnabledPoliciesFor("examples.shout")
	var names []string
	for _, p := range got {
		names = append(names, p.Ref)
	}
	if !slices.Equal(names, []string{"examples.a_one", "examples.z_limit", "ops.calm"}) {
		t.Fatalf("EnabledPoliciesFor = %v", names)
	}
	got[0].Concurrency.Attributes[0] = "changed"
	if again := f.reg.EnabledPoliciesFor("examples.shout"); again[0].Concurrency.Attributes[0] != "message" {
		t.Error("the caller's copy shares the catalogue's attributes")
	}
	f.append(pack.StreamID("ops"), pack.PackRetired{Ref: "ops"})
	if got := f.reg.EnabledPoliciesFor("examples.shout"); len(got) != 2 {
		t.Errorf("after ops retired: %d policies, want 2", len(got))
	}
}

// AnyEnabledPolicy lets admission skip its look at an ended execution when no policy can
// govern it: true while some live pack has an enabled policy, whatever its action.
func TestAnyEnabledPolicyIsTrueWhileALivePackHasOne(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ex := examples("1.0.0")
	ex.Policies = []pack.Policy{{Ref: "examples.off", Name: "off", Enabled: false, Action: "examples.shout", Type: policy.Concurrency,
		Concurrency: &policy.ConcurrencySpec{Threshold: 1, Mode: policy.Cancel}}}
	f.append(pack.StreamID("examples"), ex)
	if f.reg.AnyEnabledPolicy() {
		t.Fatal("a disabled policy counted as enabled")
	}
	f.append(pack.StreamID("ops"), pack.PackRegistered{Ref: "ops", Version: "1.0.0", Policies: []pack.Policy{
		{Ref: "ops.calm", Name: "calm", Enabled: true, Action: "core.http", Type: policy.Concurrency,
			Concurrency: &policy.ConcurrencySpec{Threshold: 3, Mode: policy.Cancel}}}})
	if !f.reg.AnyEnabledPolicy() {
		t.Fatal("an enabled policy of another action not counted")
	}
	f.append(pack.StreamID("ops"), pack.PackRetired{Ref: "ops"})
	if f.reg.AnyEnabledPolicy() {
		t.Error("a retired pack's policy still counted")
	}
}

// An event is matched against a rule as the operator had left it when the event was
// recorded: a tick recorded before a disable still fires after the catalogue read the
// disable, an event recorded before an enable does not.
func TestARuleAsOfAnEventsPosition(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.append(pack.StreamID("examples"), examples("1.0.0", onPing("a", true)))
	before := f.append(trigger.StreamID("e1"), trigger.EventFired{EventID: "e1", Trigger: "examples.ping", Payload: []byte(`{}`), Source: trigger.API})
	f.append(rule.StreamID("examples.a"), rule.RuleDisabled{Rule: "examples.a"})
	between := f.append(trigger.StreamID("e2"), trigger.EventFired{EventID: "e2", Trigger: "examples.ping", Payload: []byte(`{}`), Source: trigger.API})
	f.append(rule.StreamID("examples.a"), rule.RuleEnabled{Rule: "examples.a"})
	after := f.append(trigger.StreamID("e3"), trigger.EventFired{EventID: "e3", Trigger: "examples.ping", Payload: []byte(`{}`), Source: trigger.API})

	for name, tc := range map[string]struct {
		at   eventstore.Position
		want bool
	}{"before the disable": {before[0].Position, true}, "between": {between[0].Position, false}, "after the enable": {after[0].Position, true}} {
		r, ok := f.reg.RuleAt("examples.a", tc.at)
		if !ok || r.Enabled != tc.want {
			t.Errorf("%s: RuleAt = %v (known %v), want enabled %v", name, r.Enabled, ok, tc.want)
		}
		if n := len(f.reg.EnabledRulesForAt("examples.ping", tc.at)); (n == 1) != tc.want {
			t.Errorf("%s: EnabledRulesForAt lists %d rules, want enabled %v", name, n, tc.want)
		}
	}
	if r, _ := f.reg.Rule("examples.a"); !r.Enabled {
		t.Error("Rule (now) = disabled, want the latest switch: enabled")
	}
}
