package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/eventstore/eventstoretest"
	"github.com/attune-go/attune/adapters/memstore"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	eventstoretest.Run(t, func(*testing.T) eventstore.Store { return memstore.New(memstore.Config{}) })
}

func TestConformanceWithTinyBatches(t *testing.T) {
	t.Parallel()
	// A subscriber batch of 1 makes every catch-up and live delivery cross batch boundaries.
	eventstoretest.Run(t, func(*testing.T) eventstore.Store { return memstore.New(memstore.Config{BatchSize: 1}) })
}

func TestRecordedAtComesFromTheInjectedClockInMicroseconds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	s := memstore.New(memstore.Config{Now: func() time.Time { return at }})
	if _, err := s.Append(context.Background(), "clock-1", eventstore.NoStream, eventstore.Proposed{
		ID: ulid.Make(), Type: "Ticked", SchemaVersion: 1, Data: []byte(`{}`),
	}); err != nil {
		t.Fatalf("append: %v", err)
	}
	got, err := s.ReadStream(context.Background(), "clock-1")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	want := time.Date(2026, 3, 1, 11, 0, 0, 123456000, time.UTC)
	if !got[0].RecordedAt.Equal(want) || got[0].RecordedAt.Location() != time.UTC {
		t.Fatalf("RecordedAt = %s, want %s (UTC, microseconds like Postgres)", got[0].RecordedAt, want)
	}
}

func TestDuplicateEventIDIsRejected(t *testing.T) {
	t.Parallel()
	s := memstore.New(memstore.Config{})
	p := eventstore.Proposed{ID: ulid.Make(), Type: "Once", SchemaVersion: 1, Data: []byte(`{}`)}
	if _, err := s.Append(context.Background(), "dup-a", eventstore.Any, p); err != nil {
		t.Fatalf("first append: %v", err)
	}
	// Like the unique event_id of the Postgres table: an id names one event, in one stream.
	if _, err := s.Append(context.Background(), "dup-b", eventstore.Any, p); err == nil {
		t.Fatal("the same event id was recorded twice")
	}
	if got, _ := s.ReadStream(context.Background(), "dup-b"); len(got) != 0 {
		t.Fatalf("rejected append wrote %d events", len(got))
	}
}
