package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// A multi-stream append is one transaction: every row carries the same transaction id (the
// cursor's major part), and the statement trigger sends one NOTIFY for all of it.
func TestAppendManyIsOneTransactionWithOneNotify(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	s := newStore(t, schema.Pool, pgstore.Config{})
	ctx := context.Background()

	conn, err := schema.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	channel := "attune_events_" + schema.Name
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "UNLISTEN *") }()

	results, err := s.AppendMany(ctx, []eventstore.StreamAppend{
		{Stream: "one-a", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed("A"), proposed("A")}},
		{Stream: "one-b", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed("B")}},
		{Stream: "one-c", Expected: eventstore.Any, Events: []eventstore.Proposed{proposed("C")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
	// A marker sent after the commit: notifications arrive in commit order, so every
	// notification of the append is in before it.
	if _, err := schema.Pool.Exec(ctx, "SELECT pg_notify($1, 'marker')", channel); err != nil {
		t.Fatal(err)
	}
	notifies := 0
	wctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	for {
		n, err := conn.Conn().WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("wait for notifications: %v", err)
		}
		if n.Payload == "marker" {
			break
		}
		notifies++
	}
	if notifies != 1 {
		t.Fatalf("one append of 3 streams sent %d notifications, want 1", notifies)
	}

	log := visibleLog(t, s, 4)
	for _, r := range log[1:] {
		if r.Position.Major != log[0].Position.Major {
			t.Fatalf("%s@%d was written by transaction %d, %s@%d by %d: not one transaction",
				r.StreamID, r.StreamVersion, r.Position.Major, log[0].StreamID, log[0].StreamVersion, log[0].Position.Major)
		}
	}
	if got := eventTypes(log); got != "A A B C" {
		t.Fatalf("log order %s, want the request's order A A B C", got)
	}
}

// An event id already recorded (a retried append that had in fact committed) fails its own
// entry; the statement it would have broken is re-run without it for the others.
func TestAppendManyDuplicateEventIDFailsItsEntryAlone(t *testing.T) {
	t.Parallel()
	s := newStore(t, pgtest.New(t).Pool, pgstore.Config{})
	ctx := context.Background()
	once := proposed("Once")
	if _, err := s.Append(ctx, "dup-first", eventstore.NoStream, once); err != nil {
		t.Fatal(err)
	}
	twice := proposed("Twice")
	results, err := s.AppendMany(ctx, []eventstore.StreamAppend{
		{Stream: "dup-ok-1", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed("Ok")}},
		{Stream: "dup-again", Expected: eventstore.NoStream, Events: []eventstore.Proposed{once}},
		{Stream: "dup-ok-2", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed("Ok"), proposed("Ok")}},
		{Stream: "dup-inside", Expected: eventstore.NoStream, Events: []eventstore.Proposed{twice, twice}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 3} {
		if results[i].Err == nil || !strings.Contains(results[i].Err.Error(), "already recorded") {
			t.Errorf("entry %d: %v, want 'already recorded'", i, results[i].Err)
		}
	}
	if results[0].Err != nil || results[0].NextExpected != 1 || results[2].Err != nil || results[2].NextExpected != 2 {
		t.Fatalf("entries beside the duplicates: %+v, %+v; want both written", results[0], results[2])
	}
	for stream, want := range map[string]int{"dup-again": 0, "dup-inside": 0, "dup-ok-1": 1, "dup-ok-2": 2} {
		if got, err := s.ReadStream(ctx, stream); err != nil || len(got) != want {
			t.Errorf("%s holds %d events (%v), want %d", stream, len(got), err, want)
		}
	}
}

// A process's cached head can be stale (another process wrote since). The request then loses
// the race on the unique key, reads every head afresh and tries again: the Any entry lands
// after the other process's event, the stale Exact entry gets the true version, and the
// chain holds.
func TestAppendManyOnAStaleHeadReadsAgainAndKeepsTheChain(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	a := newStore(t, schema.Pool, pgstore.Config{})
	b := newStore(t, schema.Pool, pgstore.Config{})
	ctx := context.Background()
	if _, err := a.Append(ctx, "stale-x", eventstore.NoStream, proposed("ByA")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "stale-x", eventstore.Exact(1), proposed("ByB")); err != nil {
		t.Fatal(err)
	}
	results, err := a.AppendMany(ctx, []eventstore.StreamAppend{
		{Stream: "stale-x", Expected: eventstore.Any, Events: []eventstore.Proposed{proposed("AnyByA")}},
		{Stream: "stale-y", Expected: eventstore.NoStream, Events: []eventstore.Proposed{proposed("New")}},
		{Stream: "stale-x", Expected: eventstore.Exact(1), Events: []eventstore.Proposed{proposed("StaleByA")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil || results[0].NextExpected != 3 || results[1].Err != nil || results[1].NextExpected != 1 {
		t.Fatalf("results %+v, want stale-x at 3 and stale-y at 1", results)
	}
	var conflict *eventstore.VersionConflictError
	if !errors.As(results[2].Err, &conflict) || conflict.Actual != 3 {
		t.Fatalf("stale Exact(1) entry: %v, want a conflict at version 3", results[2].Err)
	}
	got, err := a.ReadStream(ctx, "stale-x")
	if err != nil {
		t.Fatal(err)
	}
	if types := eventTypes(got); types != "ByA ByB AnyByA" {
		t.Fatalf("stale-x holds %s", types)
	}
	var prev []byte
	for _, r := range got {
		if string(r.PrevHash) != string(prev) || string(r.Hash) != string(eventstore.Chain(prev, r)) {
			t.Fatalf("stale-x@%d breaks the chain", r.StreamVersion)
		}
		prev = r.Hash
	}
}
