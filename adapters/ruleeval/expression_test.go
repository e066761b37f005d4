package ruleeval_test

import (
	"testing"

	"github.com/attune-go/attune/domain/pack"
)

func TestExpressionRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expression, payload string
		reason                    string // empty: matches
	}{
		{"design's example", `{{ event.payload.count > 3 and event.payload.level == 'error' }}`,
			`{"count": 4, "level": "error"}`, ""},
		{"false, with the values it read", `{{ event.payload.count > 3 and event.payload.level == 'error' }}`,
			`{"count": 2, "level": "error"}`,
			`expression is false: event.payload.count > 3 and event.payload.level == 'error' (event.payload.count = 2, event.payload.level = 'error')`},
		{"the wrapper is optional", `event.payload.count > 3`, `{"count": 4}`, ""},
		{"or / not / double quotes", `{{ not (event.payload.level == "debug") or event.payload.count == 0 }}`, `{"level": "info"}`, ""},
		{"&& and || too", `{{ event.payload.count >= 1 && event.payload.count <= 5 || false }}`, `{"count": 5.0}`, ""},
		{"numbers compare across int and float", `{{ event.payload.count == 4 }}`, `{"count": 4.0}`, ""},
		{"?? gives a missing field a default", `{{ (event.payload.level ?? 'info') == 'error' }}`, `{}`,
			`expression is false: (event.payload.level ?? 'info') == 'error' (event.payload.level is missing)`},
		{"?? gives a missing nested field a default", `{{ (event.payload.a.b ?? 0) == 0 }}`, `{}`, ""},
		{"?. lets a parent be missing or null", `{{ event.payload.host?.name != 'web' }}`, `{"host": null}`, ""},
		{"?? keeps a present field", `{{ (event.payload.level ?? 'info') == 'error' }}`, `{"level": "error"}`, ""},
		{"membership and functions", `{{ 'disk' in event.payload.tags and len(event.payload.tags) == 2 }}`,
			`{"tags": ["disk", "io"]}`, ""},
		{"matches is a regular expression", `{{ event.payload.msg matches '^disk' }}`, `{"msg": "disk full"}`, ""},
		{"config and system", `{{ event.payload.count > config.threshold and system.region startsWith 'eu' }}`,
			`{"count": 4}`, ""},
		{"event fields", `{{ event.trigger == 'examples.ping' and event.source == 'webhook' }}`, `{}`, ""},
		{"predicates over lists", `{{ any(event.payload.items, .level == 'error') }}`,
			`{"items": [{"level": "info"}, {"level": "error"}]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := compile(t, pack.Rule{Expression: tc.expression}).Match(scope(t, tc.payload))
			if res.Err != nil {
				t.Fatalf("error: %v", res.Err)
			}
			if res.Matched != (tc.reason == "") || res.Reason != tc.reason {
				t.Fatalf("matched %v, reason\n got: %s\nwant: %s", res.Matched, res.Reason, tc.reason)
			}
		})
	}
}

// An expression that fails at run time, or is not a boolean, does not match and says why;
// Err tells it apart from a plain false.
func TestExpressionRunTimeFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expression, payload, reason string
	}{
		// A name that is missing is an error, not a silent false (or a silent true for !=):
		// the rule matcher records it on the enforcement. ?? or ?. say what a missing field means.
		{`{{ event.payload.level == 'error' }}`, `{}`, "expression failed: event.payload.level does not exist"},
		{`{{ event.payload.level != 'error' }}`, `{}`, "expression failed: event.payload.level does not exist"},
		{`{{ event.payload.host.name == 'web' }}`, `{}`, "expression failed: event.payload.host does not exist, reading event.payload.host.name"},
		{`{{ event.payload.a.b.c == 1 }}`, `{"a": {}}`, "expression failed: event.payload.a.b does not exist, reading event.payload.a.b.c"},
		{`{{ event.payload.host.name == 'web' }}`, `{"host": null}`, "expression failed: event.payload.host.name does not exist (its parent is null)"},
		{`{{ event.payload.count }}`, `{"count": 3}`, "expression failed: it gave 3, not true or false"},
	} {
		t.Run(tc.expression, func(t *testing.T) {
			t.Parallel()
			res := compile(t, pack.Rule{Expression: tc.expression}).Match(scope(t, tc.payload))
			if res.Matched || res.Err == nil || res.Reason != tc.reason {
				t.Fatalf("matched %v, err %v, reason\n got: %s\nwant: %s", res.Matched, res.Err, res.Reason, tc.reason)
			}
		})
	}
}

func TestExplainAnExpression(t *testing.T) {
	t.Parallel()
	r := compile(t, pack.Rule{Expression: `{{ event.payload.count > 3 }}`})
	checks := r.Explain(scope(t, `{"count": 5}`))
	if len(checks) != 1 || !checks[0].OK || checks[0].Reason != "expression is true: event.payload.count > 3" {
		t.Fatalf("explain %+v", checks)
	}
}
