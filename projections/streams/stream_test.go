package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/projections/streams"
)

type memStore map[string]streams.Stream

func (m memStore) LoadStreams(_ context.Context, ids []string) (map[string]streams.Stream, error) {
	out := map[string]streams.Stream{}
	for _, id := range ids {
		if s, ok := m[id]; ok {
			out[id] = s
		}
	}
	return out, nil
}

func (m memStore) SaveStreams(_ context.Context, ss []streams.Stream) error {
	for _, s := range ss {
		m[s.ID] = s
	}
	return nil
}

func TestCategory(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"execution-01JABC":     "execution",
		"enforcement-e1-rule2": "enforcement",
		"system":               "system",
		"-odd":                 "",
	} {
		if got := streams.Category(id); got != want {
			t.Errorf("Category(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestApplyCountsEventsAcrossBatches(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var log []eventstore.Recorded
	add := func(stream string, version int64, typ string) {
		n := len(log) + 1
		log = append(log, eventstore.Recorded{StreamID: stream, StreamVersion: version, Type: typ, Data: json.RawMessage(`{}`),
			RecordedAt: t0.Add(time.Duration(n) * time.Second), Position: eventstore.Position{Minor: uint64(n)}})
	}
	add("execution-a", 1, "ExecutionRequested")
	add("pack-core", 1, "PackRegistered")
	add("execution-a", 2, "ExecutionScheduled")
	add("execution-a", 3, "ExecutionStatusChanged")

	m := memStore{}
	for _, b := range [][]eventstore.Recorded{log[:2], log[2:]} {
		if err := streams.Apply(context.Background(), m, b); err != nil {
			t.Fatal(err)
		}
	}
	got := fmt.Sprintf("%+v", m["execution-a"])
	want := fmt.Sprintf("%+v", streams.Stream{ID: "execution-a", Category: "execution", Version: 3, EventCount: 3,
		FirstType: "ExecutionRequested", LastType: "ExecutionStatusChanged",
		CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(4 * time.Second), Position: eventstore.Position{Minor: 4}})
	if got != want {
		t.Errorf("execution-a after two batches:\n got %s\nwant %s", got, want)
	}
	if c := m["pack-core"]; c.Category != "pack" || c.EventCount != 1 {
		t.Errorf("pack-core = %+v, want category pack, 1 event", c)
	}
}
