package ruleeval_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
)

// now is the clock of every test scope; firedAt is when its event fired.
var (
	now     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	firedAt = now.Add(-90 * time.Second)
)

// scope is an examples.ping event with payload (JSON), the examples pack's config and a
// system scope.
func scope(t testing.TB, payload string) *ruleeval.Scope {
	t.Helper()
	p, err := ruleeval.DecodeJSON([]byte(payload))
	if err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	cfg, err := ruleeval.DecodeConfig([]byte(`{"greeting": "hello", "threshold": 3, "hosts": ["web-1", "web-2"]}`))
	if err != nil {
		t.Fatal(err)
	}
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

// criteria decodes a rule's criteria from JSON (what the loader makes of the YAML).
func criteria(t testing.TB, js string) map[string]pack.Criterion {
	t.Helper()
	var cs map[string]pack.Criterion
	if err := json.Unmarshal([]byte(js), &cs); err != nil {
		t.Fatalf("criteria %s: %v", js, err)
	}
	return cs
}

// compile compiles a rule of the examples pack, failing the test on a compile error.
func compile(t testing.TB, r pack.Rule) *ruleeval.Rule {
	t.Helper()
	if r.Ref == "" {
		r.Ref = "examples.on_ping"
	}
	compiled, err := ruleeval.Compile(r)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return compiled
}
