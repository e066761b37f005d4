package enforce_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/handlers/enforce"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/rulematch"
	"github.com/attune-go/attune/projections/registry"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func examples() pack.PackRegistered {
	rule := func(name, params string) pack.Rule {
		return pack.Rule{Ref: "examples." + name, Name: name, Enabled: true, Trigger: "examples.ping", Action: "examples.shout", Parameters: raw(params)}
	}
	return pack.PackRegistered{
		Ref: "examples", Version: "1.0.0",
		Actions: []pack.Action{{
			Ref: "examples.shout", Name: "shout", RunnerType: pack.RunnerShell, EntryPoint: "shout.sh",
			Parameters: pack.Params{
				"message": {Type: pack.ParamString, Required: true},
				"count":   {Type: pack.ParamInteger, Default: raw(`1`)},
				"token":   {Type: pack.ParamString, Secret: true},
			},
		}},
		Triggers: []pack.Trigger{{Ref: "examples.ping", Name: "ping", Type: pack.TriggerWebhook}},
		Rules: []pack.Rule{
			rule("first", `{"message": "{{ event.payload.msg }}"}`),
			rule("second", `{"message": "{{ event.payload.msg }}", "count": 2}`),
			rule("third", `{"message": "third", "token": "{{ event.payload.token }}"}`),
		},
	}
}

type env struct {
	fx  *handlertest.Fixture
	reg *registry.Registry
	box *secret.Box
	h   *enforce.Handler
}

func setup(t *testing.T) *env {
	t.Helper()
	fx := handlertest.New(t)
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{})
	return &env{fx: fx, reg: reg, box: box, h: enforce.New(enforce.Config{Log: fx.Store(), Catalog: reg, Box: box})}
}

// catchUp brings the registry up to the end of the log.
func (e *env) catchUp(t *testing.T) {
	t.Helper()
	all, err := e.fx.Store().ReadAll(context.Background(), e.reg.Position(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Apply(all...)
}

// enforcement is an EnforcementCreated of rule examples.<rule> for a fresh event.
func created(ruleName, action, params string) enforcement.EnforcementCreated {
	ev := ulid.Make()
	return enforcement.EnforcementCreated{
		EnforcementID: enforcement.ID(ev, "examples."+ruleName).String(), Rule: "examples." + ruleName,
		Trigger: "examples.ping", EventID: ev.String(), Action: action, Parameters: raw(params),
	}
}

// given records the enforcement after the pack and catches the registry up.
func (e *env) given(t *testing.T, c enforcement.EnforcementCreated, more ...enforcement.EnforcementProcessed) eventstore.Recorded {
	t.Helper()
	rec := e.fx.Given(enforcement.StreamID(c.EnforcementID), c)
	for _, m := range more {
		e.fx.Given(enforcement.StreamID(c.EnforcementID), m)
	}
	e.catchUp(t)
	return rec[0]
}

func execID(c enforcement.EnforcementCreated) string {
	return execution.IDForEnforcement(ulid.MustParse(c.EnforcementID)).String()
}

func requested(c enforcement.EnforcementCreated, params string) string {
	return fmt.Sprintf("ExecutionRequested execution=%s action=%s runner_type=shell parameters=%s enforcement=%s rule=%s trigger=%s event=%s",
		execID(c), c.Action, params, c.EnforcementID, c.Rule, c.Trigger, c.EventID)
}

func processed(c enforcement.EnforcementCreated) string {
	return fmt.Sprintf("EnforcementProcessed enforcement=%s execution=%s", c.EnforcementID, execID(c))
}

func TestAnEnforcementRequestsOneExecutionWithDefaultsApplied(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	c := created("first", "examples.shout", `{"message": "disk full"}`)
	rec := e.given(t, c)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	e.fx.Then(requested(c, `{"count":1,"message":"disk full"}`) + "\n" + processed(c))
}

func TestInvalidParametersFailTheExecutionInTheAppendThatRequestsIt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, params, recorded, reason string
	}{
		{"missing required parameter", `{}`, `{"count":1}`,
			`invalid parameters: parameter \"message\": is required`},
		{"wrong type", `{"message": "m", "count": "abc"}`, `{"count":"abc","message":"m"}`,
			`invalid parameters: parameter \"count\": want integer, got \"abc\"`},
		{"a sealed value in an ordinary parameter", `{"message": {"$secret": "v1:AAAA"}}`, `{"count":1}`,
			`invalid parameters: parameter \"message\": a sealed value is accepted only for a secret parameter`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.fx.Given(pack.StreamID("examples"), examples())
			c := created("first", "examples.shout", tc.params)
			rec := e.given(t, c)

			e.fx.WhenRedelivered(e.h.Handle, rec)

			e.fx.Then(strings.Join([]string{
				requested(c, tc.recorded),
				fmt.Sprintf(`ExecutionStatusChanged execution=%s from=requested to=failed reason="%s"`, execID(c), tc.reason),
				processed(c),
			}, "\n"))
			appended := e.fx.Appended()
			if appended[0].StreamID != appended[1].StreamID || appended[1].StreamVersion != 2 {
				t.Errorf("requested at %s@%d and failed at %s@%d: want one append, so no worker ever sees it requested",
					appended[0].StreamID, appended[0].StreamVersion, appended[1].StreamID, appended[1].StreamVersion)
			}
		})
	}
}

// A rule that could not render its parameters for the event (a template naming a field the
// payload lacks) gets its run all the same, failed at once with the rule's reason, so it
// shows in `attune execution list --status failed` and the run's trace instead of vanishing.
func TestARuleThatCouldNotRenderItsParametersGetsAFailedExecution(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	c := created("first", "examples.shout", `{}`)
	c.Failure = `rule examples.first (rules/first.yaml): parameters.message: template "{{ event.payload.msg }}": event.payload.msg does not exist`
	rec := e.given(t, c)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	appended := e.fx.Appended()
	if len(appended) != 3 || appended[0].Type != "ExecutionRequested" || appended[1].Type != "ExecutionStatusChanged" ||
		appended[2].Type != "EnforcementProcessed" || appended[1].StreamVersion != 2 {
		t.Fatalf("appended\n%s\nwant the execution requested and failed in one append, then the enforcement processed", handlertest.Script(appended))
	}
	ev, err := appended[1].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if f := ev.(*execution.ExecutionStatusChanged); f.From != execution.Requested || f.To != execution.Failed || f.Reason != c.Failure {
		t.Errorf("the execution went %s → %s with reason\n %q\nwant requested → failed with\n %q", f.From, f.To, f.Reason, c.Failure)
	}
}

func TestSecretParametersStaySealed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	sealed, err := e.box.SealParams(raw(`{"message": "m", "token": "hunter2"}`), "examples.shout", func(n string) bool { return n == "token" })
	if err != nil {
		t.Fatal(err)
	}
	c := created("third", "examples.shout", string(sealed))
	rec := e.given(t, c)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	appended := e.fx.Appended()
	if len(appended) != 2 {
		t.Fatalf("appended:\n%s\nwant ExecutionRequested and EnforcementProcessed", handlertest.Script(appended))
	}
	for _, a := range appended {
		if strings.Contains(string(a.Data), "hunter2") {
			t.Errorf("%s holds the secret in plaintext: %s", a.Type, a.Data)
		}
	}
	var req execution.ExecutionRequested
	if err := json.Unmarshal(appended[0].Data, &req); err != nil {
		t.Fatal(err)
	}
	if opened, err := e.box.OpenParams(req.Parameters, "examples.shout"); err != nil || string(opened) != `{"count":1,"message":"m","token":"hunter2"}` {
		t.Errorf("opened parameters = %s, %v", opened, err)
	}
}

func TestARetiredActionSkipsTheEnforcement(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	e.fx.Given(pack.StreamID("examples"), pack.PackRetired{Ref: "examples"})
	c := created("first", "examples.shout", `{"message": "m"}`)
	rec := e.given(t, c)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	e.fx.Then(fmt.Sprintf(`EnforcementSkipped enforcement=%s reason="action examples.shout is not registered (retired, or its pack was never loaded)"`, c.EnforcementID))
}

func TestNothingLeftToDo(t *testing.T) {
	t.Parallel()
	t.Run("already processed", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.fx.Given(pack.StreamID("examples"), examples())
		c := created("first", "examples.shout", `{"message": "m"}`)
		rec := e.given(t, c, enforcement.EnforcementProcessed{EnforcementID: c.EnforcementID, ExecutionID: execID(c)})
		e.fx.WhenRedelivered(e.h.Handle, rec)
		e.fx.Then("")
	})
	t.Run("skipped when it was created", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.fx.Given(pack.StreamID("examples"), examples())
		c := created("first", "examples.shout", `{}`)
		rec := e.fx.Given(enforcement.StreamID(c.EnforcementID), c, enforcement.EnforcementSkipped{EnforcementID: c.EnforcementID, Reason: "render failed"})
		e.catchUp(t)
		e.fx.WhenRedelivered(e.h.Handle, rec[0])
		e.fx.Then("")
	})
}

func TestAnExecutionRequestedBeforeACrashIsOnlyRecordedAsProcessed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	c := created("first", "examples.shout", `{"message": "m"}`)
	e.fx.Given(execution.StreamID(execID(c)), execution.ExecutionRequested{ExecutionID: execID(c), Action: "examples.shout", EnforcementID: c.EnforcementID})
	rec := e.given(t, c)

	e.fx.WhenRedelivered(e.h.Handle, rec)

	e.fx.Then(processed(c))
}

func TestOneEventThreeRulesThreeExecutions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.fx.Given(pack.StreamID("examples"), examples())
	ev := trigger.EventFired{EventID: ulid.Make().String(), Trigger: "examples.ping", Payload: raw(`{"msg": "disk full", "token": "hunter2"}`), Source: trigger.Webhook}
	fired := e.fx.Given(trigger.StreamID(ev.EventID), ev)
	e.catchUp(t)
	match := rulematch.New(rulematch.Config{Log: e.fx.Store(), Catalog: e.reg, Box: e.box})

	e.fx.WhenRedelivered(match.Handle, fired[0])
	enforcements := e.fx.Appended()
	e.catchUp(t)
	e.fx.WhenRedelivered(e.h.Handle, enforcements...)

	var got []string
	for _, a := range e.fx.Appended() {
		got = append(got, a.Type)
		if strings.Contains(string(a.Data), "hunter2") {
			t.Errorf("%s holds the secret in plaintext", a.Type)
		}
	}
	counts := map[string]int{}
	for _, typ := range got {
		counts[typ]++
	}
	want := map[string]int{"EnforcementCreated": 3, "ExecutionRequested": 3, "EnforcementProcessed": 3}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("appended %v, want %v", counts, want)
	}
}

// racing lets a concurrent delivery of the same enforcement append first: right before the
// handler's first append to a stream, it appends the same events itself.
type racing struct {
	enforce.Log
	streams map[string]bool // streams raced already
}

func (r *racing) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if !r.streams[stream] {
		r.streams[stream] = true
		rival := make([]eventstore.Proposed, len(events))
		for i, e := range events {
			e.ID = ulid.Make()
			rival[i] = e
		}
		if _, err := r.Log.Append(ctx, stream, expected, rival...); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return r.Log.Append(ctx, stream, expected, events...)
}

func TestAConcurrentDeliveryThatWinsLeavesNothingToDo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h := enforce.New(enforce.Config{Log: &racing{Log: e.fx.Store(), streams: map[string]bool{}}, Catalog: e.reg, Box: e.box})
	e.fx.Given(pack.StreamID("examples"), examples())
	c := created("first", "examples.shout", `{"message": "m"}`)
	rec := e.given(t, c)

	e.fx.When(h.Handle, rec)

	// The rival's events only: both of the handler's own appends conflicted and it took
	// them as done.
	e.fx.Then(requested(c, `{"count":1,"message":"m"}`) + "\n" + processed(c))
}
