package eventstoretest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

// streamName returns a stream id no other test (or earlier run on a shared server) uses.
func streamName(t *testing.T, label string) string {
	t.Helper()
	return "conformance" + label + "-" + ulid.Make().String()
}

// ev builds a proposed event of type typ whose data is the exact JSON text given.
func ev(typ, data string) eventstore.Proposed {
	return eventstore.Proposed{
		ID:            ulid.Make(),
		Type:          typ,
		SchemaVersion: 1,
		Data:          json.RawMessage(data),
		Metadata:      event.Metadata{CorrelationID: "corr-1", Actor: "conformance"},
	}
}

// numbered builds n events whose data records their index, for order checks.
func numbered(typ string, n int) []eventstore.Proposed {
	out := make([]eventstore.Proposed, n)
	for i := range out {
		out[i] = ev(typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.Expected, events ...eventstore.Proposed) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, events...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %s): %v", len(events), stream, expected, err)
	}
	return res
}

func mustReadStream(t *testing.T, s eventstore.Store, stream string) []eventstore.Recorded {
	t.Helper()
	got, err := s.ReadStream(context.Background(), stream)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	return got
}

// ids lists the ids of events, in order.
func ids[E eventstore.Proposed | eventstore.Recorded](events []E) []ulid.ULID {
	out := make([]ulid.ULID, len(events))
	for i, e := range events {
		switch e := any(e).(type) {
		case eventstore.Proposed:
			out[i] = e.ID
		case eventstore.Recorded:
			out[i] = e.ID
		}
	}
	return out
}

func sameIDs(a, b []ulid.ULID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// script renders events as "stream@version type data" lines so a failure shows the whole log.
func script(events []eventstore.Recorded) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s@%d %s %s\n", e.StreamID, e.StreamVersion, e.Type, e.Data)
	}
	return b.String()
}

// ownFilter keeps only events of the given streams: the global log may hold other tests' events.
func ownFilter(streams ...string) func(eventstore.Recorded) bool {
	set := make(map[string]bool, len(streams))
	for _, s := range streams {
		set[s] = true
	}
	return func(r eventstore.Recorded) bool { return set[r.StreamID] }
}

// readAllUntil pages through the global log from after with the given page size until want
// events of its own streams have been seen or Timeout passes. It fails the test when a page
// exceeds the limit, when positions do not strictly increase, or when an event repeats.
// A reader may have to wait for unrelated transactions, hence the polling.
func readAllUntil(t *testing.T, s eventstore.Store, after eventstore.Position, limit, want int, own func(eventstore.Recorded) bool) []eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(Timeout)
	seen := map[ulid.ULID]bool{}
	var got []eventstore.Recorded
	cursor := after
	for len(got) < want {
		page, err := s.ReadAll(ctx, cursor, limit)
		if err != nil {
			t.Fatalf("read log after %s (limit %d): %v", cursor, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("read log after %s returned %d events, limit %d", cursor, len(page), limit)
		}
		for _, r := range page {
			if !cursor.Less(r.Position) {
				t.Fatalf("read log after %s returned position %s, not after the cursor", cursor, r.Position)
			}
			if seen[r.ID] {
				t.Fatalf("event %s (%s@%d) read twice", r.ID, r.StreamID, r.StreamVersion)
			}
			seen[r.ID] = true
			cursor = r.Position
			if own(r) {
				got = append(got, r)
			}
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after %s: saw %d of %d events in the log:\n%s", Timeout, len(got), want, script(got))
			}
			time.Sleep(5 * time.Millisecond) // poll: visibility may wait for other transactions
		}
	}
	return got
}

// subscription records what a running Subscribe delivers.
type subscription struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{} // closed when Subscribe returned
	err    error         // what it returned; read after done

	mu      sync.Mutex
	got     []eventstore.Recorded
	batches int
	bad     string // first contract violation seen by fn
	changed chan struct{}
}

// subscribe starts s.Subscribe(after) in the background, keeping the events own accepts.
func subscribe(t *testing.T, s eventstore.Store, after eventstore.Position, own func(eventstore.Recorded) bool) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{t: t, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	last := after
	go func() {
		defer close(sub.done)
		sub.err = s.Subscribe(ctx, after, func(_ context.Context, batch []eventstore.Recorded) error {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			sub.batches++
			if len(batch) == 0 && sub.bad == "" {
				sub.bad = "fn received an empty batch"
			}
			for _, r := range batch {
				if !last.Less(r.Position) && sub.bad == "" {
					sub.bad = fmt.Sprintf("position %s delivered after %s", r.Position, last)
				}
				last = r.Position
				if own(r) {
					sub.got = append(sub.got, r)
				}
			}
			close(sub.changed)
			sub.changed = make(chan struct{})
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sub.done:
		case <-time.After(Timeout):
			t.Errorf("subscribe did not return within %s of its context being cancelled", Timeout)
		}
	})
	return sub
}

// waitFor waits until at least n own events arrived and returns them.
func (s *subscription) waitFor(n int) []eventstore.Recorded {
	s.t.Helper()
	timeout := time.After(Timeout)
	for {
		s.mu.Lock()
		got, bad, changed := append([]eventstore.Recorded(nil), s.got...), s.bad, s.changed
		s.mu.Unlock()
		if bad != "" {
			s.t.Fatalf("subscriber: %s", bad)
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-s.done:
			s.t.Fatalf("subscribe returned early (%v) after %d of %d events", s.err, len(got), n)
		case <-timeout:
			s.t.Fatalf("subscriber saw %d of %d events after %s:\n%s", len(got), n, Timeout, script(got))
		}
	}
}

// stop cancels the subscription and checks that Subscribe returned nil.
func (s *subscription) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case <-s.done:
		if s.err != nil {
			s.t.Fatalf("subscribe after cancel returned %v, want nil", s.err)
		}
	case <-time.After(Timeout):
		s.t.Fatalf("subscribe did not return within %s of its context being cancelled", Timeout)
	}
}
