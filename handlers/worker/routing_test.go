package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

// deliveries counts, by handler, the messages the bus hands over (bus.Config.Deliveries).
type deliveries struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (d *deliveries) configure(c *bus.Config) {
	c.Deliveries = func(handler string) func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.n == nil {
			d.n = map[string]*atomic.Int64{}
		}
		n := &atomic.Int64{}
		d.n[handler] = n
		return func() { n.Add(1) }
	}
}

func (d *deliveries) of(handler string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.n[handler]; n != nil {
		return n.Load()
	}
	return -1 // never added: a test mistake, which the comparison then shows
}

// TestEachPlacementIsDeliveredToItsWorkerOnly runs executions over eight workers and counts
// what the bus hands to each: every ExecutionScheduled reaches the one worker it names (one
// delivery per execution in all, not one per worker), and no status change reaches a
// worker's cancel handler, since nothing was cancelled.
func TestEachPlacementIsDeliveredToItsWorkerOnly(t *testing.T) {
	t.Parallel()
	const workers, executions = 8, 48
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			var counted deliveries
			env := workertest.New(t, workertest.Options{Transport: tr, Bus: counted.configure})
			runner := &workertest.Runner{}
			var ws []*worker.Worker
			for range workers {
				ws = append(ws, env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 2}))
			}
			env.Start()
			for _, w := range ws {
				env.StartWorker(w)
			}
			env.RegisterPack(testPack(t.TempDir()))

			var ids []string
			for range executions {
				ids = append(ids, env.Request("test.builtin", "builtin", ""))
			}
			placed := map[string]int64{} // worker → executions the log placed on it
			for _, id := range ids {
				if ch := env.WaitStatus(id, execution.Completed, execution.Failed, execution.Abandoned); ch.To != execution.Completed {
					t.Fatalf("execution %s ended %s: %s", id, ch.To, ch.Reason)
				}
				x, _ := env.Execution(id)
				placed[x.WorkerID()]++
			}
			// Stop consuming: every ExecutionScheduled was published (its execution ran), so
			// what was routed to a worker's queue has been delivered or still waits there.
			if err := env.Router.Close(); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, w := range ws {
				got := counted.of(worker.HandlerName(w.ID()))
				total += got
				if got != placed[w.ID()] {
					t.Errorf("worker %s was handed %d ExecutionScheduled, want the %d placed on it", w.ID(), got, placed[w.ID()])
				}
				if got := counted.of(worker.CancelHandlerName(w.ID())); got != 0 {
					t.Errorf("worker %s was handed %d status changes, want none (nothing was cancelled)", w.ID(), got)
				}
				if tr == bustest.RabbitMQ {
					q := env.Bus.QueueName(execution.ExecutionScheduled{}.EventType(), worker.HandlerName(w.ID()))
					if n := bustest.QueueDepth(t, q); n != 0 {
						t.Errorf("%d more messages wait in %s", n, q)
					}
				}
			}
			if total != executions {
				t.Errorf("workers were handed %d ExecutionScheduled for %d executions, want one each", total, executions)
			}
			t.Logf("%s, %d workers: %d deliveries of ExecutionScheduled for %d executions (%.2f per execution), spread %s",
				tr, workers, total, executions, float64(total)/executions, spread(placed))
		})
	}
}

func spread(placed map[string]int64) string {
	var out []int64
	for _, n := range placed {
		out = append(out, n)
	}
	return fmt.Sprint(out)
}

// TestBindingsCoverEveryWorkersHandlers: a relay in another process sends to workers only
// what worker.Bindings names (bus.Config.OnlyConsumed), so every binding a worker's handlers
// make must match one of them; a handler added to Register without it fails here.
func TestBindingsCoverEveryWorkersHandlers(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	b, err := bus.New(context.Background(), bus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w, err := worker.New(worker.Config{Runtimes: []string{"builtin"}, Runner: &workertest.Runner{},
		Log: env.Store, Heartbeats: env.Heartbeats, Catalog: env.Catalog})
	if err != nil {
		t.Fatal(err)
	}
	r := b.NewRouter()
	w.Register(r)
	defer r.Close()
	got, want := r.Bindings(), worker.Bindings()
	if len(got) == 0 {
		t.Fatal("a worker's router binds nothing")
	}
	for topic, keys := range got {
		for _, key := range keys {
			if !slices.ContainsFunc(want[topic], func(p string) bool { return bus.Matches(p, key) }) {
				t.Errorf("worker %s binds %s with %q, which worker.Bindings %v does not cover", w.ID(), topic, key, want[topic])
			}
		}
	}
}
