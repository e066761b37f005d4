package causality_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/projections/causality"
	"github.com/attune-go/attune/projections/enforcements"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/internal/memtx"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestApplyIndexesEveryEventWithoutDecodingIt(t *testing.T) {
	t.Parallel()
	id := ulid.Make()
	batch := []eventstore.Recorded{{
		ID: id, StreamID: "execution-x", StreamVersion: 3, Type: "SomethingNotInTheCatalogue", Data: json.RawMessage(`{`),
		Metadata:   event.Metadata{CorrelationID: "ev1", CausationID: "c1", Actor: "alice", TraceTag: "t"},
		RecordedAt: t0, Position: eventstore.Position{Major: 2, Minor: 9},
	}}
	m := memtx.New()
	if err := causality.Apply(context.Background(), m, batch); err != nil {
		t.Fatal(err)
	}
	want := causality.Entry{EventID: id.String(), StreamID: "execution-x", StreamVersion: 3, Type: "SomethingNotInTheCatalogue",
		CorrelationID: "ev1", CausationID: "c1", Actor: "alice", RecordedAt: t0, Position: eventstore.Position{Major: 2, Minor: 9}}
	if got := m.Causality[id.String()]; got != want {
		t.Errorf("entry =\n %+v\nwant\n %+v", got, want)
	}
}

// render draws the tree as the CLI would, with each node's log event types.
func render(tr causality.Trace) string {
	var b strings.Builder
	var walk func(n causality.Node, depth int)
	walk = func(n causality.Node, depth int) {
		var types []string
		for _, e := range n.Log {
			types = append(types, e.Type)
		}
		fmt.Fprintf(&b, "%s%s %s [%s]\n", strings.Repeat("  ", depth), n.Kind, n.ID, strings.Join(types, " "))
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(tr.Root, 0)
	for _, e := range tr.Other {
		fmt.Fprintf(&b, "other %s %s\n", e.StreamID, e.Type)
	}
	return b.String()
}

func TestBuildHangsEachStreamUnderItsCause(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	n := 0
	entry := func(stream, typ string) causality.Entry {
		n++
		return causality.Entry{EventID: fmt.Sprintf("e%02d", n), StreamID: stream, Type: typ, CorrelationID: "ev", Position: eventstore.Position{Minor: uint64(n)}}
	}
	log := []causality.Entry{
		entry("event-ev", "EventFired"),
		entry("enforcement-n2", "EnforcementCreated"),
		entry("enforcement-n1", "EnforcementCreated"),
		entry("execution-wf", "ExecutionRequested"),
		entry("enforcement-n1", "EnforcementProcessed"),
		entry("execution-t2", "ExecutionRequested"),
		entry("execution-t1", "ExecutionRequested"),
		entry("enforcement-n2", "EnforcementSkipped"),
		entry("notification-z", "NotificationSent"),
	}
	log = append(log, log[3]) // correlated and on a node's stream: listed once
	tr := causality.Build(causality.Parts{
		Event: events.Event{ID: "ev", Trigger: "examples.ping"},
		Enforcements: []enforcements.Enforcement{
			{ID: "n2", EventID: "ev", Status: enforcements.Skipped, CreatedAt: at(2)},
			{ID: "n1", EventID: "ev", Status: enforcements.Processed, CreatedAt: at(1)},
		},
		Executions: []executions.Execution{
			{ID: "t2", Parent: "wf", CreatedAt: at(5)},
			{ID: "wf", Enforcement: "n1", TriggerEvent: "ev", CreatedAt: at(3)},
			{ID: "t1", Parent: "wf", CreatedAt: at(4)},
			{ID: "solo", TriggerEvent: "ev", CreatedAt: at(9)}, // its enforcement is not projected yet
		},
		Log: log,
	})
	want := `event ev [EventFired]
  enforcement n1 [EnforcementCreated EnforcementProcessed]
    execution wf [ExecutionRequested]
      execution t1 [ExecutionRequested]
      execution t2 [ExecutionRequested]
  enforcement n2 [EnforcementCreated EnforcementSkipped]
  execution solo []
other notification-z NotificationSent
`
	if got := render(tr); got != want {
		t.Errorf("trace:\n%s\nwant:\n%s", got, want)
	}
	if tr.Root.Children[0].Enforcement == nil || tr.Root.Children[0].Children[0].Execution.ID != "wf" {
		t.Errorf("nodes do not carry their rows: %+v", tr.Root.Children[0])
	}
}
