package ruleeval_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

// benchRule is design §5's on_error_ping, grown to 3 criteria and 3 parameters: one
// type-preserving template, one interpolated text, one nested object.
func benchRule(b *testing.B) *ruleeval.Rule {
	return compile(b, pack.Rule{
		Criteria: criteria(b, `{
			"payload.level": {"type": "equals", "pattern": "error"},
			"payload.msg": {"type": "regex", "pattern": "^disk"},
			"payload.count": {"type": "greaterthan", "pattern": 3}}`),
		Parameters: []byte(`{
			"count": "{{ event.payload.count }}",
			"message": "{{ event.payload.msg }} (via {{ config.greeting }})",
			"target": {"host": "{{ event.payload.host }}", "port": 22}}`),
	})
}

const benchPayload = `{"level": "error", "msg": "disk full on /var", "count": 42, "host": "web-1"}`

// BenchmarkMatchAndRender is the rule matcher's work per (event, rule): a scope over an
// already decoded event, 3 criteria, 3 parameters rendered to JSON.
func BenchmarkMatchAndRender(b *testing.B) {
	r := benchRule(b)
	base := scope(b, benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		s := &ruleeval.Scope{Event: base.Event, Config: base.Config, System: base.System, Now: base.Now}
		if res := r.Match(s); !res.Matched {
			b.Fatal(res.Reason)
		}
		if _, err := r.Render(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMatchAndRender adds decoding the EventFired payload, paid once per event
// whatever the number of rules.
func BenchmarkDecodeMatchAndRender(b *testing.B) {
	r := benchRule(b)
	base := scope(b, benchPayload)
	e := trigger.EventFired{EventID: "01JX", Trigger: "examples.ping", Source: trigger.Webhook, Payload: json.RawMessage(benchPayload)}
	b.ReportAllocs()
	for b.Loop() {
		ev, err := ruleeval.EventFrom(e, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		s := &ruleeval.Scope{Event: ev, Config: base.Config, System: base.System, Now: base.Now}
		if res := r.Match(s); !res.Matched {
			b.Fatal(res.Reason)
		}
		if _, err := r.Render(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchMiss is a non-matching event: what most (event, rule) pairs cost.
func BenchmarkMatchMiss(b *testing.B) {
	r := benchRule(b)
	base := scope(b, `{"level": "info", "msg": "ok", "count": 1, "host": "web-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		s := &ruleeval.Scope{Event: base.Event, Config: base.Config, System: base.System, Now: base.Now}
		if res := r.Match(s); res.Matched {
			b.Fatal("matched")
		}
	}
}
