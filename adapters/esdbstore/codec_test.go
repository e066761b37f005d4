package esdbstore

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

func TestExpectedRevision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expected eventstore.Expected
		want     esdb.ExpectedRevision
	}{
		{eventstore.Any, esdb.Any{}},
		{eventstore.NoStream, esdb.NoStream{}},
		{eventstore.Exact(0), esdb.NoStream{}},
		{eventstore.Exact(1), esdb.Revision(0)}, // our versions start at 1, ESDB revisions at 0
		{eventstore.Exact(42), esdb.Revision(41)},
	}
	for _, tt := range tests {
		if got := expectedRevision(tt.expected); got != tt.want {
			t.Errorf("expectedRevision(%s) = %#v, want %#v", tt.expected, got, tt.want)
		}
	}
}

func TestPositions(t *testing.T) {
	t.Parallel()
	if got := fromPosition(eventstore.Start); got != (esdb.Start{}) {
		t.Errorf("fromPosition(Start) = %#v, want esdb.Start{}", got)
	}
	p := eventstore.Position{Major: 1234, Minor: 1200}
	got := fromPosition(p)
	if got != (esdb.Position{Commit: 1234, Prepare: 1200}) {
		t.Errorf("fromPosition(%s) = %#v, want commit 1234 prepare 1200", p, got)
	}
	if back := toPosition(got.(esdb.Position)); back != p {
		t.Errorf("position round trip %s -> %s", p, back)
	}
	// Our cursor order must be $all's order: commit first, then prepare.
	if !toPosition(esdb.Position{Commit: 10, Prepare: 99}).Less(toPosition(esdb.Position{Commit: 11, Prepare: 5})) {
		t.Error("a later commit position does not sort after an earlier one")
	}
}

func TestIsSystem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stream, typ string
		want        bool
	}{
		{"execution-01J", "ExecutionRequested", false},
		{"$$execution-01J", "$metadata", true},
		{"$stats-127.0.0.1:2113", "$statsCollected", true},
		{"$ce-execution", "$>", true},
		{"$projections-$all", "ProjectionUpdated", true},
	}
	for _, tt := range tests {
		if got := isSystem(&esdb.RecordedEvent{StreamID: tt.stream, EventType: tt.typ}); got != tt.want {
			t.Errorf("isSystem(%s %s) = %v, want %v", tt.stream, tt.typ, got, tt.want)
		}
	}
}

// stored plays the server: it returns what ESDB hands back for an appended event.
func stored(d esdb.EventData, stream string, revision uint64, pos esdb.Position) *esdb.RecordedEvent {
	return &esdb.RecordedEvent{
		EventID:      d.EventID,
		EventType:    d.EventType,
		ContentType:  "application/json",
		StreamID:     stream,
		EventNumber:  revision,
		Position:     pos,
		CreatedDate:  time.Now(), // the server's clock: never ours to hash
		Data:         d.Data,
		UserMetadata: d.Metadata,
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	s := &Store{now: func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600)) }}
	prev := bytes.Repeat([]byte{7}, 32)
	proposed := []eventstore.Proposed{
		{ID: ulid.Make(), Type: "ThingHappened", SchemaVersion: 2, Data: json.RawMessage(`{"b": 1,  "a":"\u00e9"}`),
			Metadata: event.Metadata{CorrelationID: "corr", CausationID: "cause", Actor: "alice", TraceTag: "t"}},
		{ID: ulid.Make(), Type: "ThingHappenedAgain", SchemaVersion: 1, Data: json.RawMessage(`[]`)},
	}
	data, err := s.chain("thing-1", head{version: 4, hash: prev}, proposed)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}

	var got []eventstore.Recorded
	for i, d := range data {
		if d.ContentType != esdb.ContentTypeJson {
			t.Errorf("event %d content type %v, want JSON", i, d.ContentType)
		}
		r, err := decode(stored(d, "thing-1", uint64(4+i), esdb.Position{Commit: 100 + uint64(i), Prepare: 90 + uint64(i)}))
		if err != nil {
			t.Fatalf("decode event %d: %v", i, err)
		}
		got = append(got, r)
	}

	for i, r := range got {
		p := proposed[i]
		if r.ID != p.ID || r.Type != p.Type || r.SchemaVersion != p.SchemaVersion || r.Metadata != p.Metadata ||
			!bytes.Equal(r.Data, p.Data) || r.StreamID != "thing-1" || r.StreamVersion != int64(5+i) {
			t.Errorf("event %d = %+v, want the proposed %+v as thing-1@%d", i, r, p, 5+i)
		}
		if want := time.Date(2026, 3, 4, 4, 6, 7, 891234000, time.UTC); !r.RecordedAt.Equal(want) {
			t.Errorf("event %d recorded at %s, want %s (UTC, microseconds)", i, r.RecordedAt, want)
		}
		if want := (eventstore.Position{Major: 100 + uint64(i), Minor: 90 + uint64(i)}); r.Position != want {
			t.Errorf("event %d position %s, want %s", i, r.Position, want)
		}
	}
	// The chain links to the head it was built on, and what is read back verifies.
	if !bytes.Equal(got[0].PrevHash, prev) || !bytes.Equal(got[1].PrevHash, got[0].Hash) {
		t.Error("previous hashes do not link the events to the stream's head")
	}
	for i, r := range got {
		if !bytes.Equal(r.Hash, eventstore.Chain(r.PrevHash, r)) {
			t.Errorf("event %d: hash read back does not match Chain of what was read back", i)
		}
	}
	// ESDB's own correlation convention is filled for its projections and UI.
	if md := string(data[0].Metadata); !strings.Contains(md, `"$correlationId":"corr"`) || !strings.Contains(md, `"$causationId":"cause"`) {
		t.Errorf("metadata %s lacks ESDB's $correlationId/$causationId", md)
	}
}

func TestDecodeRejectsEventsNotWrittenByAttune(t *testing.T) {
	t.Parallel()
	for name, md := range map[string]string{
		"no metadata":      ``,
		"foreign metadata": `{"$correlationId":"x"}`,
		"not JSON":         `hash=abc`,
	} {
		_, err := decode(&esdb.RecordedEvent{StreamID: "other-1", EventType: "Foreign", Data: []byte(`{}`), UserMetadata: []byte(md)})
		if err == nil || !strings.Contains(err.Error(), "other-1@1") {
			t.Errorf("%s: decode err = %v, want an error naming other-1@1", name, err)
		}
	}
}
