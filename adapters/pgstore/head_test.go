package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// Head is where a live-only reader starts: the last visible event, so that subscribing after
// it neither replays the past nor loses an event that commits behind an older transaction.
func TestHeadIsTheLastVisibleEvent(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	s := newStore(t, schema.Pool, pgstore.Config{})
	ctx := context.Background()

	if h, err := s.Head(ctx); err != nil || h != eventstore.Start {
		t.Fatalf("head of an empty log = %v, %v; want %v", h, err, eventstore.Start)
	}
	for _, stream := range []string{"head-1", "head-2", "head-1"} {
		if _, err := s.Append(ctx, stream, eventstore.Any, proposed("Seen"), proposed("Seen")); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	// Other tests' open transactions on the same server can hide the six for a moment.
	var all []eventstore.Recorded
	for deadline := time.Now().Add(30 * time.Second); len(all) < 6; {
		var err error
		if all, err = s.ReadAll(ctx, eventstore.Start, 100); err != nil {
			t.Fatalf("read all: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 6 events visible after 30s", len(all))
		}
		time.Sleep(10 * time.Millisecond)
	}
	visible := all[len(all)-1].Position
	if h, err := s.Head(ctx); err != nil || h != visible {
		t.Fatalf("head = %v, %v; want the last event's position %v", h, err, visible)
	}

	older, err := pgx.Connect(ctx, schema.URL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer older.Close(ctx)
	tx, err := older.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
		t.Fatalf("take an xid: %v", err)
	}
	hidden := proposed("Hidden")
	if _, err := s.Append(ctx, "head-3", eventstore.NoStream, hidden); err != nil {
		t.Fatalf("append behind the open transaction: %v", err)
	}
	head, err := s.Head(ctx)
	if err != nil || head != visible {
		t.Fatalf("head with an event hidden behind an open transaction = %v, %v; want %v", head, err, visible)
	}
	events := make(chan eventstore.Recorded, 8)
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(subCtx, head, collector(events)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscribe: %v", err)
		}
	}()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("end the older transaction: %v", err)
	}
	receive(t, events, hidden.ID)
}
