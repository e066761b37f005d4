package projections_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/internal/lifecycle"
)

// fire appends an EventFired with payload (raw JSON) straight to the log, past any guard:
// legacy data recorded before the guard existed.
func fire(t *testing.T, store eventstore.Store, trig, payload string) eventstore.Recorded {
	t.Helper()
	id := ulid.Make().String()
	p, err := eventstore.NewProposed(&trigger.EventFired{EventID: id, Trigger: trig, Source: trigger.Webhook, Payload: []byte(payload)},
		event.Metadata{CorrelationID: id, Actor: "webhook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), trigger.StreamID(id), eventstore.NoStream, p); err != nil {
		t.Fatalf("append %s: %v", payload, err)
	}
	recs, err := store.ReadStream(context.Background(), trigger.StreamID(id))
	if err != nil || len(recs) != 1 {
		t.Fatalf("read back %s: %d events, %v", id, len(recs), err)
	}
	return recs[0]
}

func stallRunner(t *testing.T, store eventstore.Store, target projections.Target, p projections.Projection, stallRetry time.Duration) *projections.Runner {
	t.Helper()
	r, err := projections.New(projections.Config{
		Projection: p, Store: store, Target: target, Logger: slog.New(slog.DiscardHandler),
		RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, EventAttempts: 2, StallRetry: stallRetry,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run %s: %v", p.Name, err)
		}
	})
	return r
}

func countRows(t *testing.T, s *pgtest.Schema, table string) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A trigger event recorded with a NUL in its payload (the log's json column takes the
// \u0000 escape, the read model's jsonb refuses it) stops the projection at that event, loudly:
// every event before it in the same batch is applied, none after it, the stall names the
// event, and the log still takes appends.
func TestAnEventTheReadModelRefusesStallsTheProjectionAtThatEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	before := fire(t, b.store, "examples.ping", `{"msg":"fine"}`)
	poison := fire(t, b.store, "examples.ping", `{"msg":"disk \u0000 full"}`)
	fire(t, b.store, "examples.ping", `{"msg":"after"}`)
	var fired int
	if err := b.schema.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_type = 'EventFired' AND global_position < $1`,
		int64(poison.Position.Minor)).Scan(&fired); err != nil {
		t.Fatal(err)
	}

	// One batch holds the whole log, so the events before the bad one are applied only if
	// the runner isolates it.
	r := stallRunner(t, b.store, b.db, projections.Events, time.Hour)
	eventually(t, "the events projection to stall", func() bool { return r.Stalled() != nil })
	st := r.Stalled()
	if st.Position != poison.Position || st.Stream != poison.StreamID || st.Type != "EventFired" || st.EventID != poison.ID.String() || st.Projection != projections.Events.Name {
		t.Fatalf("stalled at %+v, want the poison event %s at %s", st, poison.ID, poison.Position)
	}
	if !errors.Is(st, projections.ErrEventRejected) || !strings.Contains(st.Error(), "unsupported Unicode escape") {
		t.Errorf("stall error %v: want ErrEventRejected with PostgreSQL's reason", st)
	}
	if r.Applied() != before.Position {
		t.Errorf("applied up to %s, want %s: the event just before the bad one", r.Applied(), before.Position)
	}
	if n := countRows(t, b.schema, "trigger_events"); n != fired {
		t.Errorf("%d trigger events in the read model, want the %d before the bad one", n, fired)
	}
	cp, err := b.db.Checkpoint(ctx, projections.Events.Name)
	if err != nil || cp != before.Position {
		t.Errorf("checkpoint %s (%v), want %s", cp, err, before.Position)
	}
	// The log is not wedged: appends go on; the stalled projection does not move past the
	// event (it still names it).
	fire(t, b.store, "examples.ping", `{"msg":"later"}`)
	if st := r.Stalled(); st == nil || st.Position != poison.Position {
		t.Errorf("after a later append: stalled %+v, want still at %s", st, poison.Position)
	}
}

// A stall is not forever: once the database accepts the event (here a constraint that
// refused it is dropped), the runner applies it on its next slow retry and goes on alone.
func TestAStalledProjectionResumesOnItsOwnOnceTheDatabaseIsFixed(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.schema.Pool.Exec(ctx, `ALTER TABLE trigger_events ADD CONSTRAINT no_blocked CHECK (trigger <> 'examples.blocked')`); err != nil {
		t.Fatal(err)
	}
	blocked := fire(t, b.store, "examples.blocked", `{"msg":"x"}`)
	fire(t, b.store, "examples.ping", `{"msg":"after"}`)
	r := stallRunner(t, b.store, b.db, projections.Events, 20*time.Millisecond)
	eventually(t, "the events projection to stall", func() bool { return r.Stalled() != nil })
	if st := r.Stalled(); st.Position != blocked.Position {
		t.Fatalf("stalled at %s, want %s", st.Position, blocked.Position)
	}
	if _, err := b.schema.Pool.Exec(ctx, `ALTER TABLE trigger_events DROP CONSTRAINT no_blocked`); err != nil {
		t.Fatal(err)
	}
	caughtUp(t, r, b.store)
	if st := r.Stalled(); st != nil {
		t.Fatalf("still stalled after catching up: %v", st)
	}
	sameRows(t, b.schema, fresh(t, b.store), projections.Events)
}

// The database going away is waited out, never a stall: the runner's sessions are killed
// again and again while the log grows, and it ends equal to a clean build on its own.
func TestARunnerWaitsOutTerminatedSessionsAndResumes(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := context.Background()
	store, err := pgstore.New(ctx, s.Pool, pgstore.Config{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The runner's own pool, named, so that only its sessions are terminated.
	app := "stalltest_" + strings.ToLower(ulid.Make().String())
	pool, err := postgres.Connect(ctx, pgtest.WithPoolSize(pgtest.URL(), 3)+"&application_name="+app, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := stallRunner(t, store, readmodel.New(pool), projections.Executions, time.Hour)
	terminate := func() int {
		var n int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for round := range 4 {
		if _, err := lifecycle.Write(ctx, store, lifecycle.Config{Executions: 15, Seed: uint64(10 + round)}); err != nil {
			t.Fatal(err)
		}
		// Leading alone does not prove a pool session: the last round's were all terminated,
		// and the runner opens new ones only as it applies this round's events. Terminate as
		// soon as it holds one.
		eventually(t, fmt.Sprintf("round %d: the runner to hold a session, and it terminated", round), func() bool {
			return r.Leading() && terminate() > 0
		})
	}
	caughtUp(t, r, store)
	if st := r.Stalled(); st != nil {
		t.Fatalf("a terminated session stalled the projection: %v", st)
	}
	sameRows(t, s, fresh(t, store), projections.Executions)
}

// A rebuild that meets an event the read model refuses fails naming it, and the live tables
// keep serving what they had: it builds beside them and swaps only on success.
func TestAFailedRebuildLeavesTheLiveTablesServing(t *testing.T) {
	t.Parallel()
	b := setup(t, stores[1].open)
	ctx := context.Background()
	if _, err := lifecycle.Write(ctx, b.store, lifecycle.Config{Executions: 10, Seed: 6}); err != nil {
		t.Fatal(err)
	}
	r := stallRunner(t, b.store, b.db, projections.Events, time.Hour)
	caughtUp(t, r, b.store)
	rows := countRows(t, b.schema, "trigger_events")
	if rows == 0 {
		t.Fatal("the lifecycle log fired no trigger event: the test proves nothing")
	}
	poison := fire(t, b.store, "examples.ping", `{"msg":"\u0000"}`)
	eventually(t, "the live projection to stall", func() bool { return r.Stalled() != nil })
	// Read only now: a stalled runner's checkpoint cannot move, whereas "caught up" above is
	// measured against the visible head, which a transaction elsewhere on the server can hold
	// back while the runner still has events to apply.
	before, err := b.db.Checkpoint(ctx, projections.Events.Name)
	if err != nil {
		t.Fatal(err)
	}
	rows = countRows(t, b.schema, "trigger_events")

	err = projections.Rebuild(ctx, b.store, b.db, projections.Events.Name)
	var st *projections.StallError
	if !errors.As(err, &st) || st.Position != poison.Position || !strings.Contains(err.Error(), poison.Position.String()) {
		t.Fatalf("rebuild: %v, want a failure naming the event at %s", err, poison.Position)
	}
	if n := countRows(t, b.schema, "trigger_events"); n != rows {
		t.Errorf("after the failed rebuild the live table has %d rows, want the %d it served", n, rows)
	}
	if cp, err := b.db.Checkpoint(ctx, projections.Events.Name); err != nil || cp != before {
		t.Errorf("checkpoint %s (%v) after the failed rebuild, want %s", cp, err, before)
	}
}
