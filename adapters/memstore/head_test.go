package memstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
)

func TestHeadIsTheLastEvent(t *testing.T) {
	t.Parallel()
	s := memstore.New(memstore.Config{})
	ctx := context.Background()
	if h, err := s.Head(ctx); err != nil || h != eventstore.Start {
		t.Fatalf("head of an empty log = %v, %v; want %v", h, err, eventstore.Start)
	}
	for _, stream := range []string{"a", "b", "a"} {
		e := eventstore.Proposed{ID: ulid.Make(), Type: "Happened", SchemaVersion: 1, Data: json.RawMessage(`{}`)}
		if _, err := s.Append(ctx, stream, eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.Head(ctx); err != nil || h != all[2].Position {
		t.Fatalf("head = %v, %v; want the third event's position %v", h, err, all[2].Position)
	}
}
