package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
)

// errOutage stands for a store error the composition root classifies as transient
// (postgres.IsTransient: connection refused, admin shutdown…).
var errOutage = errors.New("connection refused")

func outageBus(t *testing.T, tr bustest.Transport) *bus.Bus {
	return bustest.NewWith(t, tr, func(c *bus.Config) {
		c.Transient = func(err error) bool { return errors.Is(err, errOutage) }
	})
}

// countPoisoned counts what reaches the poison topic (in process: a poisoning completes,
// acked by this reader, before the poisoned message is settled).
func countPoisoned(t *testing.T, b *bus.Bus) *atomic.Int32 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	msgs, err := b.Poisoned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for m := range msgs {
			n.Add(1)
			m.Ack()
		}
	}()
	return &n
}

func TestAnOutageLongerThanThePoisonBudgetIsWaitedOut(t *testing.T) {
	t.Parallel()
	const retries = 3                  // bustest's poison budget: 4 attempts
	const failures = 3 * (retries + 1) // the outage outlasts the budget three times over
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := outageBus(t, tr)
			poisoned := countPoisoned(t, b)
			var attempts atomic.Int32
			handled := make(chan struct{}, 1)
			r := b.NewRouter()
			r.AddHandler("needs-db", "ExecutionRequested", func(_ context.Context, _ eventstore.Recorded) error {
				if attempts.Add(1) <= failures {
					return errOutage
				}
				handled <- struct{}{}
				return nil
			})
			startRouter(t, r)

			published := publishAsync(b, record(t, requested("a"))...)
			waitFor(t, handled, "the handler to succeed once the outage ends")
			if err := <-published; err != nil {
				t.Fatalf("publish: %v, want the event confirmed once handled", err)
			}
			if got := attempts.Load(); got != failures+1 {
				t.Errorf("handler ran %d times, want %d (every failure retried, then one success)", got, failures+1)
			}
			if n := poisoned.Load(); n != 0 {
				t.Errorf("%d messages poisoned during the outage, want 0", n)
			}
		})
	}
}

func TestAMessageFailingAtShutdownGoesBackToItsQueue(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := outageBus(t, tr)
			poisoned := countPoisoned(t, b)
			attempted := make(chan struct{}, 1)
			var once atomic.Bool
			first := b.NewRouter()
			first.AddHandler("needs-db", "ExecutionRequested", func(_ context.Context, _ eventstore.Recorded) error {
				if once.CompareAndSwap(false, true) {
					attempted <- struct{}{}
				}
				return errOutage // the database is away until this router shuts down
			})
			if err := first.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			e := record(t, requested("a"))[0]
			published := publishAsync(b, e)
			waitFor(t, attempted, "the first attempt")

			// Another process (or, in process, another router) consumes the same queue.
			got := make(chan eventstore.Recorded, 1)
			next := b.NewRouter()
			next.AddHandler("needs-db", "ExecutionRequested", func(_ context.Context, e eventstore.Recorded) error {
				select {
				case got <- e:
				default:
				}
				return nil
			})
			startRouter(t, next)
			if err := first.Close(); err != nil {
				t.Fatalf("close the router: %v", err)
			}
			if h := waitFor(t, got, "the message to be delivered again"); h.ID != e.ID {
				t.Errorf("delivered %s, want %s", h.ID, e.ID)
			}
			<-published // in process it may report the stopped router: the relay then publishes again
			if n := poisoned.Load(); n != 0 {
				t.Errorf("%d messages poisoned by the shutdown, want 0", n)
			}
		})
	}
}
