package bus_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

const waitLong = 30 * time.Second

// record appends payloads to fresh streams of a memory store and returns them as recorded,
// with real positions and hashes.
func record(t testing.TB, payloads ...event.Event) []eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	s := memstore.New(memstore.Config{})
	md := event.Metadata{CorrelationID: "corr-1", CausationID: "cause-1", Actor: "tester", TraceTag: "tag"}
	for i, p := range payloads {
		e, err := eventstore.NewProposed(p, md)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("execution-%d", i), eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.ReadAll(ctx, eventstore.Start, len(payloads))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func requested(id string) execution.ExecutionRequested {
	return execution.ExecutionRequested{ExecutionID: id, Action: "core.echo"}
}

func scheduled(id string) execution.ExecutionScheduled {
	return execution.ExecutionScheduled{ExecutionID: id, WorkerID: "w1", Runtime: "shell"}
}

func TestMessageCarriesTheWholeEnvelope(t *testing.T) {
	t.Parallel()
	e := record(t, scheduled("x1"), requested("x2"))[1]
	e.PrevHash = []byte{1, 2, 3} // as if it were not the first of its stream

	msg, err := bus.NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID != e.ID.String() {
		t.Errorf("message UUID = %s, want the event id %s", msg.UUID, e.ID)
	}
	wantMeta := map[string]string{
		"type": "ExecutionRequested", "stream_id": "execution-1",
		"correlation_id": "corr-1", "causation_id": "cause-1",
	}
	for k, v := range wantMeta {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	// watermill's CorrelationID middleware reads the same key.
	if got := middleware.MessageCorrelationID(msg); got != "corr-1" {
		t.Errorf("middleware.MessageCorrelationID = %q, want corr-1", got)
	}
	for _, field := range []string{`"event_id"`, `"stream_version":1`, `"schema_version":1`, `"position":"0-2"`, `"prev_hash":"010203"`, `"recorded_at"`} {
		if !strings.Contains(string(msg.Payload), field) {
			t.Errorf("payload %s lacks %s", msg.Payload, field)
		}
	}

	back, err := bus.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("round trip changed the event:\n got %+v\nwant %+v", back, e)
	}
	// The hash still verifies: the bytes of data survived unchanged.
	if !reflect.DeepEqual(eventstore.Chain(back.PrevHash, back), eventstore.Chain(e.PrevHash, e)) {
		t.Error("round trip changed what the hash covers")
	}
}

func TestDecodeRejectsForeignMessages(t *testing.T) {
	t.Parallel()
	for name, payload := range map[string]string{
		"not json":     `{`,
		"no event id":  `{"type":"ExecutionRequested","position":"0-1","hash":""}`,
		"bad position": `{"event_id":"01J00000000000000000000000","position":"x","hash":""}`,
	} {
		if _, err := bus.Decode(message.NewMessage("m", []byte(payload))); err == nil {
			t.Errorf("%s: Decode succeeded, want an error", name)
		}
	}
}

// publishAsync publishes in the background: the in-process bus returns only once every
// handler is done, and a test may have to consume the poison topic meanwhile.
func publishAsync(b *bus.Bus, events ...eventstore.Recorded) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Publish(context.Background(), events...) }()
	return done
}

func startRouter(t *testing.T, r *bus.Router) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("start router: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close router: %v", err)
		}
	})
}

func TestEachHandlerGetsEveryEventOfItsTypeOnly(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := bustest.New(t, tr)
			c := bustest.NewCollector()
			r := b.NewRouter()
			// Two handlers of one type each get every event of it: they never share a queue.
			r.AddHandler("requested.audit", "ExecutionRequested", c.Handler("requested.audit"))
			r.AddHandler("requested.count", "ExecutionRequested", c.Handler("requested.count"))
			r.AddHandler("scheduled.audit", "ExecutionScheduled", c.Handler("scheduled.audit"))
			startRouter(t, r)

			events := record(t, requested("a"), scheduled("a"), requested("b"), requested("c"), scheduled("b"))
			if err := <-publishAsync(b, events...); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"requested.audit": {"ExecutionRequested", "ExecutionRequested", "ExecutionRequested"},
				"requested.count": {"ExecutionRequested", "ExecutionRequested", "ExecutionRequested"},
				"scheduled.audit": {"ExecutionScheduled", "ExecutionScheduled"},
			}
			c.WaitUntil(t, waitLong, "every handler to get its events", func() bool {
				for h, w := range want {
					if n, _ := c.Distinct(h); n < len(w) {
						return false
					}
				}
				return true
			})
			for h, w := range want {
				var got []string
				for _, e := range c.Got(h) {
					got = append(got, e.Type)
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s received %v, want %v", h, got, w)
				}
			}
		})
	}
}

func TestFailingHandlerEndsOnThePoisonTopic(t *testing.T) {
	t.Parallel()
	const retries = 3 // bustest's setting
	cases := []struct {
		name         string
		handler      bus.HandlerFunc
		wantReason   string
		wantAttempts int32
	}{
		{"error", func(context.Context, eventstore.Recorded) error { return errors.New("disk full") }, "disk full", retries + 1},
		{"panic", func(context.Context, eventstore.Recorded) error { panic("nil map") }, "panicked", retries + 1},
		{"permanent", func(context.Context, eventstore.Recorded) error { return bus.Permanent(errors.New("bad payload")) }, "bad payload", 1},
	}
	for _, tr := range bustest.Transports {
		for _, tc := range cases {
			t.Run(string(tr)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				b := bustest.New(t, tr)
				poisoned, err := b.Poisoned(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var attempts atomic.Int32
				c := bustest.NewCollector()
				r := b.NewRouter()
				r.AddHandler("fails", "ExecutionRequested", func(ctx context.Context, e eventstore.Recorded) error {
					attempts.Add(1)
					return tc.handler(ctx, e)
				})
				r.AddHandler("works", "ExecutionRequested", c.Handler("works"))
				startRouter(t, r)

				events := record(t, requested("a"), requested("b"))
				for i, e := range events {
					published := publishAsync(b, e)
					msg := waitFor(t, poisoned, "the poisoned message")
					msg.Ack()
					if err := <-published; err != nil {
						t.Fatal(err)
					}
					if msg.UUID != e.ID.String() {
						t.Fatalf("poisoned message %s, want event %s", msg.UUID, e.ID)
					}
					if got := msg.Metadata.Get(middleware.PoisonedHandlerKey); got != "fails" {
						t.Errorf("poisoned by handler %q, want fails", got)
					}
					if got := msg.Metadata.Get(middleware.ReasonForPoisonedKey); !strings.Contains(got, tc.wantReason) {
						t.Errorf("poison reason %q does not mention %q", got, tc.wantReason)
					}
					// The failed message was settled, not requeued: the next event's attempts
					// follow it exactly.
					if got, want := attempts.Load(), int32(i+1)*tc.wantAttempts; got != want {
						t.Errorf("after %d poisoned events the handler ran %d times, want %d", i+1, got, want)
					}
				}
				// The other handler of the type is not held back by its failing neighbour.
				c.WaitUntil(t, waitLong, "the healthy handler to get both events", func() bool {
					n, _ := c.Distinct("works")
					return n == 2
				})
				if tr == bustest.RabbitMQ {
					if n := bustest.QueueDepth(t, b.QueueName("ExecutionRequested", "fails")); n != 0 {
						t.Errorf("failing handler's queue holds %d messages, want 0", n)
					}
					if n := bustest.QueueDepth(t, b.PoisonQueueName()); n != 0 {
						t.Errorf("poison queue holds %d messages after they were acked, want 0", n)
					}
				}
			})
		}
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed while waiting for %s", what)
		}
		return v
	case <-time.After(waitLong):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// A handler's queue outlives its process: what is published while it is down waits for it,
// even before its first start when the queue was declared ahead (Router.Declare).
func TestRabbitMQQueueKeepsEventsWhileHandlerIsDown(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.RabbitMQ)
	c := bustest.NewCollector()
	events := record(t, requested("a"), requested("b"), requested("c"))

	ahead := b.NewRouter()
	ahead.AddHandler("audit", "ExecutionRequested", c.Handler("never"))
	if err := ahead.Declare(); err != nil {
		t.Fatal(err)
	}
	if err := ahead.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), events[0]); err != nil {
		t.Fatal(err)
	}

	first := b.NewRouter()
	first.AddHandler("audit", "ExecutionRequested", c.Handler("first"))
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.WaitUntil(t, waitLong, "the handler to get what was published before its first start", func() bool {
		n, _ := c.Distinct("first")
		return n == 1
	})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	if err := b.Publish(context.Background(), events[1:]...); err != nil {
		t.Fatal(err)
	}
	if n := bustest.QueueDepth(t, b.QueueName("ExecutionRequested", "audit")); n != 2 {
		t.Fatalf("queue of the stopped handler holds %d messages, want 2", n)
	}

	second := b.NewRouter()
	second.AddHandler("audit", "ExecutionRequested", c.Handler("second"))
	startRouter(t, second)
	c.WaitUntil(t, waitLong, "the restarted handler to get what it missed", func() bool {
		n, _ := c.Distinct("second")
		return n == 2
	})
	if got := len(c.Got("never")); got != 0 {
		t.Errorf("a router that was only declared consumed %d messages", got)
	}
}

// Without a broker nothing holds a message for a handler that is not running, so the
// in-process bus refuses to publish rather than let the relay checkpoint past it.
func TestInProcessPublishNeedsEveryRouterRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := bustest.New(t, bustest.InProcess)
	c := bustest.NewCollector()
	events := record(t, requested("a"))

	r := b.NewRouter()
	r.AddHandler("audit", "ExecutionRequested", c.Handler("audit"))
	if err := b.Publish(ctx, events...); err == nil {
		t.Fatal("publish before the router started succeeded, want an error")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, events...); err != nil {
		t.Fatalf("publish with the router running: %v", err)
	}
	if got := len(c.Got("audit")); got != 1 {
		t.Fatalf("handler got %d events when Publish returned, want 1 (publish waits for handlers)", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, events...); err == nil {
		t.Fatal("publish after the router closed succeeded, want an error")
	}
}

func TestRouterStopsWithItsContext(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := bustest.New(t, tr)
			r := b.NewRouter()
			r.AddHandler("audit", "ExecutionRequested", bustest.NewCollector().Handler("audit"))
			ctx, cancel := context.WithCancel(context.Background())
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			<-r.Running()
			cancel()
			if err := r.Close(); err != nil {
				t.Fatalf("close after cancel: %v", err)
			}
		})
	}
}

func TestHandlerNamesAreCheckedAtWiring(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.InProcess)
	noop := func(context.Context, eventstore.Recorded) error { return nil }
	r := b.NewRouter()
	r.AddHandler("scheduler", "ExecutionRequested", noop)
	cases := []struct {
		name string
		add  func()
	}{
		{"duplicate name", func() { r.AddHandler("scheduler", "ExecutionScheduled", noop) }},
		{"name with a space", func() { r.AddHandler("my handler", "ExecutionScheduled", noop) }},
		{"empty event type", func() { r.AddHandler("other", "", noop) }},
		{"nil handler", func() { r.AddHandler("other", "ExecutionScheduled", nil) }},
		{"added after the start", func() { startRouter(t, r); r.AddHandler("late", "ExecutionScheduled", noop) }}, // last
	}
	for _, tc := range cases {
		if !panics(tc.add) {
			t.Errorf("%s: AddHandler did not panic", tc.name)
		}
	}
}

func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}
