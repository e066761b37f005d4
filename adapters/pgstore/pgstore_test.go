package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/eventstore/eventstoretest"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return newStore(t, pgtest.New(t).Pool, pgstore.Config{})
	})
}

func TestConformanceWithTinyBatches(t *testing.T) {
	t.Parallel()
	// Subscriber batches of 2 make catch-up and live delivery cross batch boundaries.
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return newStore(t, pgtest.New(t).Pool, pgstore.Config{BatchSize: 2})
	})
}

func newStore(t testing.TB, pool *pgxpool.Pool, cfg pgstore.Config) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(context.Background(), pool, cfg)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

// bigPool opens a second pool on the test's schema with room for many concurrent writers
// (the default pool has max(4, cores) connections).
func bigPool(t testing.TB, s *pgtest.Schema, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		t.Fatalf("parse %s: %v", s.URL, err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = s.Name
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	t.Parallel()
	err := pgstore.Config{BatchSize: -1, PollInterval: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "BatchSize") || !strings.Contains(err.Error(), "PollInterval") {
		t.Fatalf("Validate() = %v, want both BatchSize and PollInterval named", err)
	}
	if err := (pgstore.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config is invalid: %v", err)
	}
	if _, err := pgstore.New(context.Background(), nil, pgstore.Config{}); err == nil {
		t.Fatal("New accepted a nil pool")
	}
}

func TestRecordedAtComesFromTheInjectedClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	s := newStore(t, pgtest.New(t).Pool, pgstore.Config{Now: func() time.Time { return at }})
	p := proposed("Ticked")
	if _, err := s.Append(context.Background(), "clock-1", eventstore.NoStream, p); err != nil {
		t.Fatalf("append: %v", err)
	}
	got, err := s.ReadStream(context.Background(), "clock-1")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	want := time.Date(2026, 3, 1, 11, 0, 0, 123456000, time.UTC)
	if !got[0].RecordedAt.Equal(want) {
		t.Fatalf("RecordedAt = %s, want %s", got[0].RecordedAt, want)
	}
}

func TestDuplicateEventIDIsRejected(t *testing.T) {
	t.Parallel()
	s := newStore(t, pgtest.New(t).Pool, pgstore.Config{})
	p := proposed("Once")
	if _, err := s.Append(context.Background(), "dup-a", eventstore.Any, p); err != nil {
		t.Fatalf("first append: %v", err)
	}
	_, err := s.Append(context.Background(), "dup-b", eventstore.Any, p)
	if err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Fatalf("second append of the same id: err = %v, want 'already recorded'", err)
	}
}

// Two stores on one table stand for two processes. Each remembers the heads it wrote, so each
// sees the other's appends only through the unique key: the chain and the expectations must
// hold anyway.
func TestTwoProcessesAppendingToOneStreamKeepItsChain(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	a := newStore(t, schema.Pool, pgstore.Config{})
	b := newStore(t, schema.Pool, pgstore.Config{})
	ctx := context.Background()
	const stream = "shared-1"
	if _, err := a.Append(ctx, stream, eventstore.NoStream, proposed("ByA")); err != nil {
		t.Fatalf("a appends v1: %v", err)
	}
	if _, err := b.Append(ctx, stream, eventstore.Exact(1), proposed("ByB")); err != nil {
		t.Fatalf("b appends v2: %v", err)
	}
	// a last saw v1: its append on that belief must fail with the truth, and write nothing.
	_, err := a.Append(ctx, stream, eventstore.Exact(1), proposed("StaleA"))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || conflict.Actual != 2 {
		t.Fatalf("a appends expecting v1 after b wrote v2: err = %v, want a conflict at version 2", err)
	}
	if _, err := a.Append(ctx, stream, eventstore.Any, proposed("ByA")); err != nil {
		t.Fatalf("a appends with Any: %v", err)
	}
	if _, err := b.Append(ctx, stream, eventstore.Exact(3), proposed("ByB")); err != nil {
		t.Fatalf("b appends v4: %v", err)
	}
	got, err := a.ReadStream(ctx, stream)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var prev []byte
	for i, r := range got {
		if r.StreamVersion != int64(i+1) || !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(r.Hash, eventstore.Chain(prev, r)) {
			t.Fatalf("%s@%d (%s) breaks the chain", r.StreamID, r.StreamVersion, r.Type)
		}
		prev = r.Hash
	}
	if types := eventTypes(got); types != "ByA ByB ByA ByB" {
		t.Fatalf("stream holds %s", types)
	}
}

func eventTypes(events []eventstore.Recorded) string {
	types := make([]string, len(events))
	for i, r := range events {
		types[i] = r.Type
	}
	return strings.Join(types, " ")
}
