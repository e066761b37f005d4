package reaper_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/projections/executions"
)

// flakyTable is a heartbeat flakyTable that can be made unreachable; its one worker stopped beating
// long ago, as every worker does while the database is away.
type flakyTable struct {
	mu     sync.Mutex
	down   bool
	seen   chan struct{} // a successful read of the lost workers
	failed chan struct{} // a read while down
}

func (h *flakyTable) Live(context.Context, time.Duration) ([]heartbeat.Worker, error) {
	return nil, nil
}
func (h *flakyTable) Remove(context.Context, string) error { return nil }
func (h *flakyTable) Lost(context.Context, time.Duration) ([]heartbeat.Worker, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		select {
		case h.failed <- struct{}{}:
		default:
		}
		return nil, errors.New("connection refused")
	}
	select {
	case h.seen <- struct{}{}:
	default:
	}
	return []heartbeat.Worker{{ID: "w1", Age: time.Minute}}, nil
}

type noExecutions struct{}

func (noExecutions) ListExecutions(context.Context, executions.Filter) (executions.Page, error) {
	return executions.Page{}, nil
}

type noScheduler struct{}

func (noScheduler) Retry(context.Context, string, time.Time, time.Duration) (scheduler.Result, error) {
	return scheduler.Unchanged, nil
}

func TestAfterAnOutageWorkersGetATTLToBeatBeforeBeingDeclaredLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := memstore.New(memstore.Config{})
	reg, err := eventstore.NewProposed(worker.WorkerRegistered{WorkerID: "w1", Name: "w1", Host: "h",
		Capabilities: worker.Capabilities{Runtimes: []string{"shell"}}, MaxConcurrency: 1, Version: "dev"},
		event.Metadata{CorrelationID: "worker-w1", Actor: "worker:w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, worker.StreamID("w1"), eventstore.NoStream, reg); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	beats := &flakyTable{down: true, seen: make(chan struct{}, 1), failed: make(chan struct{}, 1)}
	r, err := reaper.New(reaper.Config{Log: log, Heartbeats: beats, Executions: noExecutions{}, Scheduler: noScheduler{},
		TTL: 6 * time.Second, Interval: time.Millisecond, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.Run(ctx) }()
	events := func() int {
		recorded, err := log.ReadStream(context.Background(), worker.StreamID("w1"))
		if err != nil {
			t.Fatal(err)
		}
		return len(recorded)
	}

	advance(10 * time.Second) // the outage lasts longer than the TTL
	select {                  // drop a signal from before the advance, then see a pass fail after it
	case <-beats.failed:
	default:
	}
	select {
	case <-beats.failed:
	case <-time.After(30 * time.Second):
		t.Fatal("the reaper made no pass during the outage")
	}
	beats.mu.Lock()
	beats.down = false
	beats.mu.Unlock()
	// Several passes see the stale worker with the database back, within a TTL of the outage.
	for range 3 {
		select {
		case <-beats.seen:
		case <-time.After(30 * time.Second):
			t.Fatal("the reaper made no pass")
		}
	}
	if n := events(); n != 1 {
		t.Fatalf("worker declared lost right after the outage (%d events in its stream)", n)
	}

	advance(7 * time.Second) // a whole TTL with the database reachable, and still no beat
	deadline := time.Now().Add(30 * time.Second)
	for events() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the worker was not declared lost a TTL after the outage")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
