package events_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/events"
	"github.com/attune-go/attune/projections/internal/memtx"
)

func recorded(t *testing.T, n int, e event.Event, md event.Metadata) eventstore.Recorded {
	t.Helper()
	p, err := eventstore.NewProposed(e, md)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Recorded{ID: p.ID, StreamID: "s", StreamVersion: 1, Type: p.Type, Data: p.Data, Metadata: md,
		RecordedAt: time.Date(2026, 3, 1, 12, n, 0, 0, time.UTC), Position: eventstore.Position{Minor: uint64(n)}}
}

func TestApplyRecordsEachTriggerEventAsFired(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 3, 1, 11, 59, 58, 0, time.UTC)
	batch := []eventstore.Recorded{
		recorded(t, 1, &trigger.EventFired{EventID: "e1", Trigger: "examples.ping", Source: trigger.Webhook, Payload: json.RawMessage(`{"msg":"disk"}`)},
			event.Metadata{CorrelationID: "e1", Actor: "webhook", TraceTag: "t"}),
		recorded(t, 2, &trigger.EventFired{EventID: "e2", Trigger: "core.intervaltimer", Source: trigger.Timer, Rule: "core.every", OccurredAt: tick, Payload: json.RawMessage(`{}`)},
			event.Metadata{CorrelationID: "e2", Actor: "timer"}),
		recorded(t, 3, &trigger.EventFired{EventID: "e3", Trigger: "examples.ping", Source: trigger.Sensor, Sensor: "examples.watch"}, event.Metadata{}),
	}
	batch = append(batch, eventstore.Recorded{ID: ulid.Make(), Type: "ExecutionRequested", Data: json.RawMessage(`{"execution_id": 7}`)})
	m := memtx.New()
	if err := events.Apply(context.Background(), m, batch); err != nil {
		t.Fatal(err)
	}
	if m.Saves != 1 || len(m.TriggerEvents) != 3 {
		t.Fatalf("3 trigger events in a batch: %d saves, %d rows; want 1 and 3", m.Saves, len(m.TriggerEvents))
	}
	e1, e2, e3 := m.TriggerEvents["e1"], m.TriggerEvents["e2"], m.TriggerEvents["e3"]
	if e1.Trigger != "examples.ping" || e1.Source != trigger.Webhook || string(e1.Payload) != `{"msg":"disk"}` ||
		e1.Actor != "webhook" || e1.TraceTag != "t" || !e1.CreatedAt.Equal(batch[0].RecordedAt) || e1.Position.Minor != 1 {
		t.Errorf("webhook event = %+v", e1)
	}
	if e2.Rule != "core.every" || !e2.OccurredAt.Equal(tick) || !e1.OccurredAt.IsZero() {
		t.Errorf("timer tick = %+v (and the webhook's occurred_at %v, want zero)", e2, e1.OccurredAt)
	}
	if e3.Sensor != "examples.watch" {
		t.Errorf("sensor event = %+v", e3)
	}
}

func TestFilterValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	now := time.Now()
	err := events.Filter{Source: "carrier-pigeon", Limit: -1, Since: now, Until: now, Cursor: "!"}.Validate()
	for _, want := range []string{"carrier-pigeon", "limit -1", "is not before", "cursor"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if err := (events.Filter{Source: trigger.Timer}).Validate(); err != nil {
		t.Errorf("a valid filter: %v", err)
	}
}

func TestCursorRoundTrips(t *testing.T) {
	t.Parallel()
	e := events.Event{ID: "01JX", CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)}
	key, ok, err := events.ParseCursor(events.Cursor(e))
	if err != nil || !ok || key.ID != e.ID || !key.At.Equal(e.CreatedAt) {
		t.Errorf("cursor of %+v parses to %+v ok=%v err=%v", e, key, ok, err)
	}
}
