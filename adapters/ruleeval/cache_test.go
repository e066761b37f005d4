package ruleeval_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

func TestCacheCompilesARuleOnceAndAgainWhenItChanges(t *testing.T) {
	t.Parallel()
	var cache ruleeval.Cache
	r := pack.Rule{Ref: "examples.on_ping", Criteria: criteria(t, `{"payload.level": {"type": "equals", "pattern": "error"}}`)}

	first, err := cache.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			// A reloaded pack decodes a new but equal rule: still the same compiled one.
			again, err := cache.Get(pack.Rule{Ref: r.Ref, Criteria: criteria(t, `{"payload.level": {"type": "equals", "pattern": "error"}}`)})
			if err != nil || again != first {
				t.Errorf("an unchanged rule was recompiled (%v)", err)
			}
		})
	}
	wg.Wait()

	r.Criteria = criteria(t, `{"payload.level": {"type": "equals", "pattern": "warn"}}`)
	changed, err := cache.Get(r)
	if err != nil || changed == first {
		t.Fatalf("a changed rule was not recompiled (%v)", err)
	}
	if res := changed.Match(scope(t, `{"level": "warn"}`)); !res.Matched {
		t.Fatalf("the recompiled rule does not match its new criteria: %s", res.Reason)
	}

	cache.Forget(r.Ref)
	if again, _ := cache.Get(r); again == changed {
		t.Fatal("a forgotten rule was still cached")
	}
}

func TestCacheKeepsACompileError(t *testing.T) {
	t.Parallel()
	var cache ruleeval.Cache
	bad := pack.Rule{Ref: "examples.bad", Expression: "{{ event.payload.count > }}"}
	_, err1 := cache.Get(bad)
	_, err2 := cache.Get(bad)
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v / %v: want the same cached error", err1, err2)
	}
}

func TestEventFromARecordedEvent(t *testing.T) {
	t.Parallel()
	recorded := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)
	e := trigger.EventFired{EventID: "01JX", Trigger: "examples.ping", Source: trigger.Webhook, Payload: json.RawMessage(`{"n": 1}`)}
	ev, err := ruleeval.EventFrom(e, recorded)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.FiredAt.Equal(recorded) || ev.Source != "webhook" || ev.Payload.(map[string]any)["n"] != 1 {
		t.Fatalf("event %+v", ev)
	}
	e.OccurredAt = recorded.Add(-time.Minute) // a timer's scheduled tick: when it happened
	if ev, _ := ruleeval.EventFrom(e, recorded); !ev.FiredAt.Equal(e.OccurredAt) {
		t.Fatalf("fired_at %v, want the occurrence %v", ev.FiredAt, e.OccurredAt)
	}
	e.Payload = json.RawMessage(`{"n": `)
	if _, err := ruleeval.EventFrom(e, recorded); err == nil {
		t.Fatal("a truncated payload decoded")
	}
}
