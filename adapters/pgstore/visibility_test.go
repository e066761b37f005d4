package pgstore_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/event"
)

const waitLimit = 15 * time.Second

func proposed(typ string) eventstore.Proposed {
	return eventstore.Proposed{ID: ulid.Make(), Type: typ, SchemaVersion: 1, Data: json.RawMessage(`{}`),
		Metadata: event.Metadata{Actor: "pgstore-test"}}
}

// collector is a Subscribe fn that hands every delivered event to a channel.
func collector(out chan<- eventstore.Recorded) func(context.Context, []eventstore.Recorded) error {
	return func(ctx context.Context, batch []eventstore.Recorded) error {
		for _, r := range batch {
			select {
			case out <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}

// startSubscriber runs Subscribe from Start until the test ends.
func startSubscriber(t *testing.T, s *pgstore.Store) <-chan eventstore.Recorded {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan eventstore.Recorded, 1024)
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, eventstore.Start, collector(out)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscribe: %v", err)
		}
	})
	return out
}

func receive(t *testing.T, events <-chan eventstore.Recorded, want ulid.ULID) {
	t.Helper()
	select {
	case r := <-events:
		if r.ID != want {
			t.Fatalf("subscriber got %s (%s), want %s", r.ID, r.Type, want)
		}
	case <-time.After(waitLimit):
		t.Fatalf("subscriber did not see %s within %s", want, waitLimit)
	}
}

// An event committed while an older transaction is still open must stay invisible until that
// transaction ends — that is what keeps readers from skipping the older one's events — and a
// subscriber must then pick it up although the older transaction sent no notification.
func TestEventBehindAnOlderOpenTransactionAppearsWhenItEnds(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	s := newStore(t, schema.Pool, pgstore.Config{PollInterval: time.Hour}) // no poll: only the recheck can find it
	ctx := context.Background()

	first := proposed("Before")
	if _, err := s.Append(ctx, "visible-1", eventstore.NoStream, first); err != nil {
		t.Fatalf("append: %v", err)
	}
	events := startSubscriber(t, s)
	receive(t, events, first.ID)

	older, err := pgx.Connect(ctx, schema.URL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer older.Close(ctx)
	tx, err := older.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil { // take an xid, write nothing
		t.Fatalf("take an xid: %v", err)
	}
	hidden := proposed("Hidden")
	if _, err := s.Append(ctx, "visible-1", eventstore.Exact(1), hidden); err != nil {
		t.Fatalf("append behind the open transaction: %v", err)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	for _, r := range all {
		if r.ID == hidden.ID {
			t.Fatal("ReadAll returned an event while an older transaction was still open")
		}
	}
	select {
	case r := <-events:
		t.Fatalf("subscriber got %s while an older transaction was open", r.Type)
	default:
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("end the older transaction: %v", err)
	}
	receive(t, events, hidden.ID)
}

// Killing the LISTEN connection must not leave subscribers deaf: the listener reconnects and,
// since notifications sent meanwhile are lost, wakes them once it is back.
func TestSubscriberSurvivesLosingTheListenConnection(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	s := newStore(t, schema.Pool, pgstore.Config{
		PollInterval: time.Hour, // no poll: only NOTIFY wakes
		Logger:       slog.New(slog.DiscardHandler),
	})
	ctx := context.Background()
	events := startSubscriber(t, s)

	first := proposed("BeforeTheDrop")
	if _, err := s.Append(ctx, "listener-1", eventstore.NoStream, first); err != nil {
		t.Fatalf("append: %v", err)
	}
	receive(t, events, first.ID)

	// The first event may have arrived through the subscriber's first read, before the
	// listener's connection ran LISTEN: wait for the listening connection to exist.
	var killed int
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := schema.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE query = 'LISTEN "attune_events_' || current_schema() || '"'`).Scan(&killed)
		if err != nil {
			t.Fatalf("terminate the listener: %v", err)
		}
		if killed == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling pg_stat_activity
	}
	if killed != 1 {
		t.Fatalf("terminate the listener: killed %d, want 1", killed)
	}
	second := proposed("AfterTheDrop")
	if _, err := s.Append(ctx, "listener-1", eventstore.Exact(1), second); err != nil {
		t.Fatalf("append: %v", err)
	}
	receive(t, events, second.ID)
}
