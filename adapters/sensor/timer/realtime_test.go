package timer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/sensor/timer"
)

// runReal runs a Timers on the wall clock until the test ends.
func runReal(t *testing.T, store eventstore.Store, log *slog.Logger, rules ...timer.TimerRule) {
	t.Helper()
	tm := timer.New(timer.Config{Store: store, Logger: log})
	if err := tm.Set(rules); err != nil {
		t.Fatalf("Set: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// checkConsecutiveSeconds asserts ticks are whole, distinct seconds one second apart.
func checkConsecutiveSeconds(t *testing.T, events []fired) {
	t.Helper()
	for i, e := range events {
		if e.OccurredAt.Nanosecond() != 0 {
			t.Errorf("tick %s is not aligned to a whole second", e.OccurredAt.Format(time.RFC3339Nano))
		}
		if i > 0 {
			if d := e.OccurredAt.Sub(events[i-1].OccurredAt); d != time.Second {
				t.Errorf("ticks %s and %s are %s apart, want 1s (each tick once, none missed)", events[i-1].OccurredAt, e.OccurredAt, d)
			}
		}
	}
}

func TestAOneSecondIntervalFiresEverySecondInRealTime(t *testing.T) {
	t.Parallel()
	store := guarded(t, memstore.New(memstore.Config{}))
	runReal(t, store, discard(), interval("examples.every_second", 1, "seconds"))

	waitFor(t, "3 ticks", 6*time.Second, func() bool { return len(firedEvents(t, store)) >= 3 })
	events := firedEvents(t, store)[:3]
	checkConsecutiveSeconds(t, events)
	for _, e := range events {
		if e.rec.RecordedAt.Before(e.OccurredAt) {
			t.Errorf("tick %s recorded at %s, before it was due", e.OccurredAt, e.rec.RecordedAt)
		}
	}
}

func TestTwoEnginesOnPostgresFireEachTickOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	newStore := func() eventstore.Store {
		s, err := pgstore.New(ctx, db.Pool, pgstore.Config{})
		if err != nil {
			t.Fatalf("pgstore: %v", err)
		}
		return guarded(t, s)
	}
	// Two stores on one database, as two engine processes would have.
	a, b := newStore(), newStore()
	rule := interval("examples.every_second", 1, "seconds")
	l := &logs{}
	runReal(t, a, slog.New(l), rule)
	runReal(t, b, slog.New(l), rule)

	// Both engines race for every tick; a tick either engine fired twice would show up as a
	// second event 0s after the first.
	waitFor(t, "4 ticks", 8*time.Second, func() bool { return len(firedEvents(t, a)) >= 4 })
	events := firedEvents(t, a)
	checkConsecutiveSeconds(t, events)
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.EventID] {
			t.Errorf("tick %s fired twice", e.OccurredAt)
		}
		seen[e.EventID] = true
	}
	// Both engines really raced: for every tick but perhaps the last, the loser met the
	// winner's event as a version conflict.
	if n := l.count("already fired"); n < len(events)-1 {
		t.Errorf("%d ticks found already fired for %d ticks fired: the engines did not race", n, len(events))
	}
}
