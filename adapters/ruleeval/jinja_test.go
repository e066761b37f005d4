package ruleeval_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// st2Rule is a rule of a StackStorm pack: Jinja over trigger and st2kv.
func st2Rule(criteria map[string]pack.Criterion, params string) pack.Rule {
	return pack.Rule{Ref: "examples.on_ping", Dialect: pack.DialectStackStorm, Criteria: criteria, Parameters: []byte(params)}
}

func TestAStackStormRuleRendersJinjaOverTriggerAndSt2kv(t *testing.T) {
	t.Parallel()
	r := compile(t, st2Rule(nil, `{"n": "{{ trigger.count }}", "s": "{{ trigger.msg | upper }} on {{ trigger.host.name }}",
		"k": "{{ st2kv.system.greeting }}", "d": "{{ trigger.level | default('info') }}", "lit": "plain", "num": 3,
		"loop": "{% for t in trigger.tags %}{{ t }};{% endfor %}"}`))
	if got := r.KVRefs(); len(got) != 1 || got[0] != (ruleeval.KVRef{Scope: "system", Name: "greeting"}) {
		t.Fatalf("KVRefs %v: want the one system key the Jinja reads", got)
	}
	if w := r.ParamsKV()["k"].Whole; w == nil || w.Name != "greeting" {
		t.Fatalf("ParamsKV[k] = %+v: a parameter that is one key is that key whole", r.ParamsKV()["k"])
	}
	s := scope(t, payload)
	s.KV = map[string]any{"system": map[string]any{"greeting": "hi"}, "pack": map[string]any{}}
	out, err := r.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"d":"info","k":"hi","lit":"plain","loop":"a;b;","n":42,"num":3,"s":"DISK FULL on web-1"}`
	if string(out) != want {
		t.Fatalf("rendered %s\nwant     %s", out, want)
	}
}

func TestAStackStormRuleReadingAMissingFieldFailsNamingIt(t *testing.T) {
	t.Parallel()
	r := compile(t, st2Rule(nil, `{"message": "{{ trigger.body.nothing }}"}`))
	_, err := r.Render(scope(t, payload))
	var re *ruleeval.RenderError
	if !errors.As(err, &re) || re.Where() != "parameters.message" || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v: want a RenderError at parameters.message saying what does not exist", err)
	}
}

func TestAStackStormRuleRefusesWhatItCannotRender(t *testing.T) {
	t.Parallel()
	for params, want := range map[string]string{
		`{"m": "{{ event.payload.msg }}"}`:          "event: a rule's Jinja reads trigger",
		`{"m": "{{ st2kv.user.token }}"}`:           "st2kv.user has no counterpart",
		`{"m": "{{ trigger.x | no_such_filter }}"}`: "no_such_filter",
		`{"m": "{{ system.token }}"}`:               "old spelling of st2kv.system.NAME",
		`{"m": "{{ ctx('x') }}"}`:                   "belongs to workflows",
	} {
		err := ruleeval.CheckRule(st2Rule(nil, params))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", params, err, want)
		}
	}
}

func TestAStackStormCriterionKeyMayRepeatAPathWithATag(t *testing.T) {
	t.Parallel()
	r := compile(t, st2Rule(criteria(t, `{
		"payload.count":    {"type": "greaterthan", "pattern": 40},
		"payload.count#2":  {"type": "lessthan", "pattern": 50},
		"payload.msg":      {"type": "equals", "pattern": "{{ st2kv.system.expected }}"}}`), `{}`))
	s := scope(t, payload)
	s.KV = map[string]any{"system": map[string]any{"expected": "disk full"}, "pack": map[string]any{}}
	if res := r.Match(s); !res.Matched {
		t.Fatalf("no match: %s %v", res.Reason, res.Err)
	}
	r = compile(t, st2Rule(criteria(t, `{"payload.count": {"type": "greaterthan", "pattern": 40}, "payload.count#low": {"type": "lessthan", "pattern": 41}}`), `{}`))
	if res := r.Match(scope(t, payload)); res.Matched || !strings.HasPrefix(res.Reason, "payload.count#low: lessthan 41") {
		t.Fatalf("got %+v: want the tagged criterion to fail, named with its tag", res)
	}
	// In Attune's dialect # is part of the path.
	if res := compile(t, pack.Rule{Criteria: criteria(t, `{"payload.count#2": {"type": "exists"}}`)}).Match(scope(t, payload)); res.Matched {
		t.Fatal("an Attune rule read payload.count#2 as payload.count")
	}
}

func TestRenderedStackStormParametersAreCastToTheActionsTypes(t *testing.T) {
	t.Parallel()
	schema := pack.Params{
		"n": {Type: pack.ParamInteger}, "f": {Type: pack.ParamNumber}, "b": {Type: pack.ParamBoolean},
		"o": {Type: pack.ParamObject}, "a": {Type: pack.ParamArray}, "s": {Type: pack.ParamString},
	}
	out, err := ruleeval.CastParams([]byte(`{"n": "42", "f": " 1.5", "b": "True", "o": "{\"k\": 1}", "a": "[1,2]", "s": {"x": 1}, "other": "7"}`), schema)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[1,2],"b":true,"f":1.5,"n":42,"o":{"k":1},"other":"7","s":"{\"x\":1}"}`; string(out) != want {
		t.Fatalf("cast %s\nwant %s", out, want)
	}
	_, err = ruleeval.CastParams([]byte(`{"n": "forty"}`), schema)
	var ce *ruleeval.CastError
	if !errors.As(err, &ce) || ce.Param != "n" || !strings.Contains(err.Error(), `'forty', which is not an integer`) {
		t.Fatalf("got %v: want a CastError naming n", err)
	}
}
