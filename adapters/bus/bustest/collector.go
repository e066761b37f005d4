package bustest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
)

// Collector records what each handler received, and lets a test wait for a condition on it
// without sleeping.
type Collector struct {
	mu   sync.Mutex
	got  map[string][]eventstore.Recorded
	wake chan struct{} // closed and replaced on every delivery
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{got: map[string][]eventstore.Recorded{}, wake: make(chan struct{})}
}

// Handler records every event delivered to the handler called name.
func (c *Collector) Handler(name string) bus.HandlerFunc {
	return func(_ context.Context, e eventstore.Recorded) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got[name] = append(c.got[name], e)
		close(c.wake)
		c.wake = make(chan struct{})
		return nil
	}
}

// Got returns what the handler called name has received so far, in delivery order.
func (c *Collector) Got(name string) []eventstore.Recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventstore.Recorded(nil), c.got[name]...)
}

// Distinct counts the distinct events the handler received, and the deliveries beyond one.
func (c *Collector) Distinct(name string) (distinct, duplicates int) {
	seen := map[string]bool{}
	for _, e := range c.Got(name) {
		if seen[e.ID.String()] {
			duplicates++
			continue
		}
		seen[e.ID.String()] = true
	}
	return len(seen), duplicates
}

// WaitUntil blocks until cond holds, failing the test after timeout.
func (c *Collector) WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		wake := c.wake
		c.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}
