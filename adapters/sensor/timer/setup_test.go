package timer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/sensor/timer"
	"github.com/attune-go/attune/domain/trigger"
)

// manualClock moves only when the test says so. Waiters are the timers' pending After calls;
// a timer that fired a tick registers its next wait, which is the test's sign that the
// timer has settled.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock(now time.Time) *manualClock { return &manualClock{now: now} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

// set moves the clock to t and wakes every waiter due by then.
func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
			continue
		}
		w.ch <- t
	}
	c.waiters = kept
}

func (c *manualClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// fired is one EventFired as the log holds it.
type fired struct {
	trigger.EventFired
	rec eventstore.Recorded
}

func firedEvents(t *testing.T, s eventstore.Store) []fired {
	t.Helper()
	recs, err := s.ReadAll(context.Background(), eventstore.Start, 10_000)
	if err != nil {
		t.Fatalf("read the log: %v", err)
	}
	var out []fired
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			t.Fatalf("decode %s: %v", r.ID, err)
		}
		ef, ok := e.(*trigger.EventFired)
		if !ok {
			t.Fatalf("unexpected %s in the log", r.Type)
		}
		out = append(out, fired{EventFired: *ef, rec: r})
	}
	return out
}

// ticks lists the events of one rule as "15:04:05" ticks, sorted.
func ticks(t *testing.T, s eventstore.Store, rule string) []string {
	t.Helper()
	var out []string
	for _, e := range firedEvents(t, s) {
		if e.Rule == rule {
			out = append(out, e.OccurredAt.UTC().Format("15:04:05"))
		}
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logs records what the timers log, so a test can wait for what has no other sign.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs(as []slog.Attr) slog.Handler    { return logsWith{l, as} }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(ctx context.Context, r slog.Record) error {
	return logsWith{logs: l}.Handle(ctx, r)
}

type logsWith struct {
	*logs
	attrs []slog.Attr
}

func (l logsWith) WithAttrs(as []slog.Attr) slog.Handler {
	return logsWith{l.logs, append(append([]slog.Attr(nil), l.attrs...), as...)}
}

func (l logsWith) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	for _, a := range l.attrs {
		line += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, line)
	return nil
}

// count is how many lines contain every one of parts.
func (l *logs) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, m := range l.msgs {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue next
			}
		}
		n++
	}
	return n
}

// bundle is one test's timers, on a manual clock and an in-memory store.
type bundle struct {
	clock *manualClock
	store eventstore.Store
	logs  *logs
}

func setup(t *testing.T, start time.Time) bundle {
	t.Helper()
	return bundle{clock: newClock(start), store: guarded(t, memstore.New(memstore.Config{})), logs: &logs{}}
}

// start runs a Timers on the bundle until the test ends and returns it.
func (b bundle) start(t *testing.T, rules ...timer.TimerRule) *timer.Timers {
	t.Helper()
	tm := timer.New(timer.Config{Store: b.store, Clock: b.clock, Logger: slog.New(b.logs)})
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
	return tm
}

// step moves the clock to at and waits until n timers wait again and the rule has want
// ticks in the log.
func (b bundle) step(t *testing.T, at time.Time, waiting int, rule string, want int) {
	t.Helper()
	b.clock.set(at)
	waitFor(t, fmt.Sprintf("%d ticks of %s and %d waiting timers at %s", want, rule, waiting, at.Format("15:04:05")), 5*time.Second, func() bool {
		return b.clock.pending() >= waiting && len(ticks(t, b.store, rule)) >= want
	})
}

func interval(ref string, delta int, unit string) timer.TimerRule {
	return timer.TimerRule{Ref: ref, Trigger: timer.IntervalTrigger, TriggerParams: json.RawMessage(fmt.Sprintf(`{"unit":%q,"delta":%d}`, unit, delta))}
}

func joined(s []string) string { return strings.Join(s, " ") }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// guarded checks every appended event against its published JSON Schema
// (schemas/events/EventFired.json): what a sensor records is what consumers were promised.
func guarded(t *testing.T, s eventstore.Store) eventstore.Store {
	t.Helper()
	v, err := eventschema.New()
	if err != nil {
		t.Fatalf("load event schemas: %v", err)
	}
	return eventschema.Guard(s, v)
}
