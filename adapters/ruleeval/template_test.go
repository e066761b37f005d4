package ruleeval_test

import (
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

const payload = `{"count": 42, "ratio": 0.5, "big": 9007199254740993, "ok": true, "none": null,
	"msg": "disk full", "tags": ["a", "b"], "host": {"name": "web-1", "port": 8080}, "odd-key": "x"}`

// render renders parameters (JSON) of a rule against payload and returns the JSON.
func render(t *testing.T, params string) (string, error) {
	t.Helper()
	r := compile(t, pack.Rule{Parameters: []byte(params)})
	out, err := r.Render(scope(t, payload))
	return string(out), err
}

func TestTemplatesRender(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, params, want string
	}{
		{"a number stays a number", `{"n": "{{ event.payload.count }}"}`, `{"n":42}`},
		{"a float stays a float", `{"n": "{{ event.payload.ratio }}"}`, `{"n":0.5}`},
		{"an integer past 2^53 keeps its digits", `{"n": "{{ event.payload.big }}"}`, `{"n":9007199254740993}`},
		{"a boolean stays a boolean", `{"b": "{{ event.payload.ok }}"}`, `{"b":true}`},
		{"null stays null", `{"z": "{{ event.payload.none }}"}`, `{"z":null}`},
		{"a map stays a map", `{"h": "{{ event.payload.host }}"}`, `{"h":{"name":"web-1","port":8080}}`},
		{"a list stays a list", `{"t": "{{ event.payload.tags }}"}`, `{"t":["a","b"]}`},
		{"blanks around one template keep its type", `{"n": "  {{ event.payload.count }}\n"}`, `{"n":42}`},
		{"arithmetic", `{"n": "{{ event.payload.count + 1 }}"}`, `{"n":43}`},
		{"text around a template makes a string", `{"s": "count={{ event.payload.count }}"}`, `{"s":"count=42"}`},
		{"mixed text interpolates", `{"message": "{{ event.payload.msg }} (via {{ config.greeting }})"}`,
			`{"message":"disk full (via hello)"}`},
		{"objects and lists interpolate as JSON", `{"s": "{{ event.payload.host }} {{ event.payload.tags }} {{ event.payload.none }}"}`,
			`{"s":"{\"name\":\"web-1\",\"port\":8080} [\"a\",\"b\"] null"}`},
		{"two templates side by side are text", `{"s": "{{ event.payload.count }}{{ event.payload.count }}"}`, `{"s":"4242"}`},
		{"nested maps and lists render recursively",
			`{"outer": {"list": ["{{ event.payload.count }}", "x-{{ event.payload.host.name }}", 7, {"deep": "{{ event.payload.ok }}"}]}}`,
			`{"outer":{"list":[42,"x-web-1",7,{"deep":true}]}}`},
		{"event fields", `{"e": "{{ event.trigger }}/{{ event.source }}/{{ event.id }}/{{ event.fired_at }}"}`,
			`{"e":"examples.ping/webhook/01JXAMPLE0000000000000000/2026-06-01T11:58:30Z"}`},
		{"config and system", `{"c": "{{ config.hosts[1] }}", "s": "{{ system.region }}"}`, `{"c":"web-2","s":"eu-west-1"}`},
		{"single-quoted strings and functions", `{"s": "{{ upper(event.payload.msg) + '!' }}"}`, `{"s":"DISK FULL!"}`},
		{"a key that is not an identifier", `{"s": "{{ event.payload['odd-key'] }}"}`, `{"s":"x"}`},
		{"a conditional", `{"s": "{{ event.payload.count > 3 ? 'many' : 'few' }}"}`, `{"s":"many"}`},
		{"a default for a missing field", `{"s": "{{ event.payload.level ?? 'info' }}"}`, `{"s":"info"}`},
		{"a default for a missing step anywhere on the left", `{"s": "{{ event.payload.a.b[3].c ?? 'none' }}"}`, `{"s":"none"}`},
		{"optional chaining", `{"s": "{{ event.payload.missing?.deep }}"}`, `{"s":null}`},
		{"optional chaining on null", `{"s": "{{ event.payload.none?.deep ?? 0 }}"}`, `{"s":0}`},
		{"braces and }} inside the expression", `{"m": "{{ {'a': {'b': '}}'}} }}"}`, `{"m":{"a":{"b":"}}"}}}`},
		{"predicates over a list", `{"n": "{{ filter(event.payload.tags, # != 'a') }}", "m": "{{ map(config.hosts, upper(#)) }}"}`,
			`{"m":["WEB-1","WEB-2"],"n":["b"]}`},
		{"a stray }} is text", `{"s": "a }} b"}`, `{"s":"a }} b"}`},
		{"no template at all", `{"message": "hello, world", "n": 1.5, "l": [true, null]}`,
			`{"l":[true,null],"message":"hello, world","n":1.5}`},
		{"no parameters", ``, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := render(t, tc.params)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tc.want {
				t.Fatalf("rendered\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// A template that reads a path that does not exist is an error naming the parameter, the
// template and the path: null rendered into an action's parameters would hide the typo.
func TestTemplatesOnMissingPathsFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, params, want string
	}{
		{"a missing payload field", `{"message": "{{ event.payload.mgs }}"}`,
			`render parameters of rule examples.on_ping: parameters.message: template "{{ event.payload.mgs }}": event.payload.mgs does not exist`},
		{"inside mixed text, nested", `{"body": {"lines": ["ok", "from {{ config.sender }}"]}}`,
			`render parameters of rule examples.on_ping: parameters.body.lines[1]: template "from {{ config.sender }}": config.sender does not exist`},
		{"inside a larger expression", `{"p": "{{ upper(event.payload.mgs) + '!' }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ upper(event.payload.mgs) + '!' }}": event.payload.mgs does not exist`},
		{"below a scalar", `{"p": "{{ event.payload.msg.text }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.payload.msg.text }}": event.payload.msg.text does not exist (its parent is a string)`},
		{"below null", `{"p": "{{ event.payload.none.x }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.payload.none.x }}": event.payload.none.x does not exist (its parent is null)`},
		{"nested on a missing key: the whole path is named", `{"p": "{{ event.payload.a.b }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.payload.a.b }}": event.payload.a does not exist, reading event.payload.a.b`},
		{"nested on a missing key in a larger expression", `{"p": "{{ event.payload.a.b.c + 1 }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.payload.a.b.c + 1 }}": event.payload.a does not exist, reading event.payload.a.b.c`},
		{"past the end of a list", `{"p": "{{ event.payload.tags[2] }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.payload.tags[2] }}": event.payload.tags[2] does not exist (the list has 2 items)`},
		{"?. does not forgive the step before it", `{"p": "{{ event.paylod.x?.y }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ event.paylod.x?.y }}": event.paylod does not exist, reading event.paylod.x`},
		{"an odd key", `{"p": "{{ system['no-such'] }}"}`,
			`render parameters of rule examples.on_ping: parameters.p: template "{{ system['no-such'] }}": system["no-such"] does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, tc.params)
			if err == nil {
				t.Fatal("rendered")
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
			var re *ruleeval.RenderError
			var me *ruleeval.MissingError
			if !errors.As(err, &re) || !errors.As(err, &me) {
				t.Fatalf("%T is not a *RenderError wrapping a *MissingError", err)
			}
		})
	}
}

// Other run-time failures name the parameter and template too.
func TestTemplateRunTimeErrors(t *testing.T) {
	t.Parallel()
	_, err := render(t, `{"n": "{{ event.payload.msg / 2 }}"}`)
	var re *ruleeval.RenderError
	if !errors.As(err, &re) || re.Where() != "parameters.n" || re.Template != "{{ event.payload.msg / 2 }}" {
		t.Fatalf("error %v", err)
	}
}

// CompileTemplate serves other callers than rules (workflow inputs); it takes any JSON value.
func TestCompileTemplateStandalone(t *testing.T) {
	t.Parallel()
	tmpl, err := ruleeval.CompileTemplate([]byte(`["{{ event.payload.count * 2 }}", "n={{ event.payload.count }}"]`), "input")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.RenderJSON(scope(t, payload))
	if err != nil || string(out) != `[84,"n=42"]` {
		t.Fatalf("rendered %s, %v", out, err)
	}
	_, err = ruleeval.CompileTemplate([]byte(`{"a": "{{ event. }}"}`), "input")
	var re *ruleeval.RuleError
	if !errors.As(err, &re) || len(re.Problems) != 1 || re.Problems[0].Where() != "input.a" {
		t.Fatalf("compile error %v", err)
	}
}
