package bus_test

import (
	"context"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// TestTheHandlersOfOneEventShareOneDecode: two handlers of a process get the same event, each
// through its own queue; the payload is decoded once, and both read that one value.
func TestTheHandlersOfOneEventShareOneDecode(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := bustest.New(t, tr)
			c := bustest.NewCollector()
			var mu sync.Mutex
			payloads := map[string][]event.Event{} // event id → what each handler decoded
			r := b.NewRouter()
			for _, name := range []string{"requested.one", "requested.two"} {
				collect := c.Handler(name)
				r.AddHandler(name, "ExecutionRequested", func(ctx context.Context, e eventstore.Recorded) error {
					p, err := e.Decode()
					if err != nil {
						return err
					}
					mu.Lock()
					payloads[e.ID.String()] = append(payloads[e.ID.String()], p)
					mu.Unlock()
					return collect(ctx, e)
				})
			}
			startRouter(t, r)
			events := record(t, requested("a"), requested("b"))
			if err := <-publishAsync(b, events...); err != nil {
				t.Fatal(err)
			}
			c.WaitUntil(t, waitLong, "both handlers to get both events", func() bool {
				one, _ := c.Distinct("requested.one")
				two, _ := c.Distinct("requested.two")
				return one == 2 && two == 2
			})
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				got := payloads[e.ID.String()]
				if len(got) != 2 || got[0] != got[1] {
					t.Errorf("event %s was decoded into %d distinct values for its 2 handlers, want one shared", e.ID, distinct(got))
				}
			}
		})
	}
}

func distinct(ps []event.Event) int {
	seen := map[event.Event]bool{}
	for _, p := range ps {
		seen[p] = true
	}
	return len(seen)
}
