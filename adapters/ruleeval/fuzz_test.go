package ruleeval_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// FuzzRule compiles rules from a fuzzed criterion (operator and pattern), a fuzzed expression
// and fuzzed parameter templates, and evaluates and renders those that compile against a
// fuzzed payload. Nothing panics and every call returns: expr compiles expressions that pack
// authors write and runs them on payloads that anonymous webhook callers send.
func FuzzRule(f *testing.F) {
	// Seeds from the package's tables: operators, expressions, templates.
	f.Add("equals", `"error"`, "", `{"message": "{{ event.payload.msg }} (via {{ config.greeting }})"}`, `{"v": "error", "msg": "disk full"}`)
	f.Add("lessthan", `"2026-02-01"`, "", `{"n": "{{ event.payload.count + 1 }}"}`, `{"v": "2026-01-31", "count": 42}`)
	f.Add("contains", `{"a": [1, 2]}`, "", `{"s": "{{ event.payload.a.b[3].c ?? 'none' }}"}`, `{"v": {"a": [1.0, 2]}}`)
	f.Add("regex", `"^disk"`, "", `{"m": "{{ {'a': {'b': '}}'}} }}"}`, `{"v": "disk full"}`)
	f.Add("matchwildcard", `"web-*"`, "", `{"n": "{{ filter(event.payload.tags, # != 'a') }}", "m": "{{ map(config.hosts, upper(#)) }}"}`, `{"v": "web-1", "tags": ["a", "b"]}`)
	f.Add("timediff_lt", `60`, "", `{"e": "{{ event.trigger }}/{{ event.fired_at }}"}`, `{"v": "2026-06-01T11:59:30Z"}`)
	f.Add("search", `{"condition": "any", "items": {"level": {"type": "equals", "pattern": "error"}}}`, "", `{}`, `{"v": [{"level": "info"}, {"level": "error"}]}`)
	f.Add("inside", `["a", "b"]`, "", `{"x": "{{ event.payload.missing?.deep }}"}`, `{"v": "a"}`)
	f.Add("equals", `"{{ config.greeting }}"`, "", `{}`, `{"v": "hello"}`)
	f.Add("", ``, `{{ event.payload.count > 3 and event.payload.level == 'error' }}`, `{"n": "{{ event.payload.count }}"}`, `{"count": 4, "level": "error"}`)
	f.Add("", ``, `{{ any(event.payload.items, .level == 'error') }}`, ``, `{"items": [{"level": "info"}, {"level": "error"}]}`)
	f.Add("", ``, `{{ event.payload.msg matches '^disk' and 'disk' in event.payload.tags }}`, ``, `{"msg": "disk full", "tags": ["disk"]}`)
	f.Add("", ``, `{{ len(event.payload.tags) == 2 && system.region startsWith 'eu' }}`, `{"s": "{{ upper(event.payload.msg) + '!' }}"}`, `{"tags": [1, 2], "msg": "x"}`)

	f.Fuzz(func(t *testing.T, op, pattern, expression, params, payload string) {
		s := fuzzScope(payload)
		rules := []pack.Rule{{Ref: "p.r", Expression: expression, Parameters: json.RawMessage(params)}}
		if json.Valid([]byte(pattern)) { // the loader hands ruleeval patterns as JSON
			rules = append(rules, pack.Rule{Ref: "p.r", Criteria: map[string]pack.Criterion{
				"payload.v": {Type: op, Pattern: json.RawMessage(pattern)},
			}})
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, r := range rules {
				compiled, err := ruleeval.Compile(r)
				if err != nil {
					continue
				}
				_ = compiled.Match(s)
				_ = compiled.Explain(s)
				if out, err := compiled.Render(s); err == nil && !json.Valid(out) {
					t.Errorf("rendered parameters are not JSON: %s", out)
				}
			}
			if tmpl, err := ruleeval.CompileTemplate(json.RawMessage(params), "input"); err == nil {
				if out, err := tmpl.RenderJSON(s); err == nil && !json.Valid(out) {
					t.Errorf("rendered template is not JSON: %s", out)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second): // a bound on a hang, not a measure of speed
			t.Fatal("evaluating the rule did not return")
		}
	})
}

// fuzzScope is scope() with a fuzzed payload; one that is not a JSON object is the empty one.
func fuzzScope(payload string) *ruleeval.Scope {
	p, err := ruleeval.DecodeJSON([]byte(payload))
	if _, isObject := p.(map[string]any); err != nil || !isObject {
		p = map[string]any{}
	}
	cfg, _ := ruleeval.DecodeConfig([]byte(`{"greeting": "hello", "threshold": 3, "hosts": ["web-1", "web-2"]}`))
	return &ruleeval.Scope{
		Event: ruleeval.Event{
			ID: "01JXAMPLE0000000000000000", Trigger: "examples.ping", Source: "webhook",
			Payload: p, FiredAt: firedAt,
		},
		Config: cfg,
		System: map[string]any{"region": "eu-west-1"},
		Now:    now,
	}
}
