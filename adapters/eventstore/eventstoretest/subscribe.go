package eventstoretest

import (
	"context"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
)

func runSubscribe(t *testing.T, newStore NewStore) {
	t.Run("CatchesUpThenReceivesLiveAppendsInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := streamName(t, "a"), streamName(t, "b")
		stored := append(numbered("Stored", 3), ev("StoredB", `{}`))
		mustAppend(t, s, a, eventstore.NoStream, stored[:3]...)
		mustAppend(t, s, b, eventstore.NoStream, stored[3])

		sub := subscribe(t, s, eventstore.Start, ownFilter(a, b))
		if got := sub.waitFor(len(stored)); !sameIDs(ids(got), ids(stored)) {
			t.Fatalf("catch-up delivered:\n%s", script(got))
		}
		live := []eventstore.Proposed{ev("LiveB", `{}`), ev("LiveA", `{}`), ev("LiveA", `{}`)}
		mustAppend(t, s, b, eventstore.Exact(1), live[0])
		mustAppend(t, s, a, eventstore.Exact(3), live[1:]...)
		want := append(stored, live...)
		got := sub.waitFor(len(want))
		sub.stop()
		if !sameIDs(ids(got), ids(want)) {
			t.Fatalf("subscriber saw:\n%s", script(got))
		}
	})

	t.Run("StartsAfterTheCursor", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "cursor")
		events := numbered("Counted", 5)
		mustAppend(t, s, stream, eventstore.NoStream, events...)
		all := readAllUntil(t, s, eventstore.Start, 100, 5, ownFilter(stream))
		sub := subscribe(t, s, all[1].Position, ownFilter(stream))
		got := sub.waitFor(3)
		sub.stop()
		if !sameIDs(ids(got), ids(events[2:])) {
			t.Fatalf("subscribe after %s delivered:\n%s", all[1].Position, script(got))
		}
	})

	t.Run("ReturnsNilWhenCancelledWhileIdle", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "idle")
		mustAppend(t, s, stream, eventstore.NoStream, ev("Only", `{}`))
		sub := subscribe(t, s, eventstore.Start, ownFilter(stream))
		sub.waitFor(1)
		sub.stop() // fails unless Subscribe returns nil promptly
	})

	t.Run("ReturnsNilWhenCancelledBeforeStart", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Subscribe(ctx, eventstore.Start, func(context.Context, []eventstore.Recorded) error { return nil })
		if err != nil {
			t.Fatalf("subscribe with a cancelled context returned %v, want nil", err)
		}
	})

	t.Run("ReturnsTheHandlersError", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "failing")
		mustAppend(t, s, stream, eventstore.NoStream, numbered("Poison", 2)...)
		errPoison := errors.New("handler refused the event")
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		err := s.Subscribe(ctx, eventstore.Start, func(_ context.Context, batch []eventstore.Recorded) error {
			for _, r := range batch {
				if r.StreamID == stream {
					return errPoison
				}
			}
			return nil
		})
		if !errors.Is(err, errPoison) {
			t.Fatalf("subscribe returned %v, want the handler's error", err)
		}
		if ctx.Err() != nil {
			t.Fatal("subscribe returned only when the test's deadline passed")
		}
	})

	t.Run("WakesForEachAppendAfterGoingIdle", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "wake")
		sub := subscribe(t, s, eventstore.Start, ownFilter(stream))
		// One append at a time, each waited for: the subscriber goes idle in between, so a
		// lost wake-up shows as a hang here rather than being covered by the next append.
		var want []eventstore.Proposed
		for i := range 5 {
			p := ev("Woke", `{}`)
			want = append(want, p)
			mustAppend(t, s, stream, eventstore.Exact(int64(i)), p)
			sub.waitFor(i + 1)
		}
		got := sub.waitFor(len(want))
		sub.stop()
		if !sameIDs(ids(got), ids(want)) {
			t.Fatalf("subscriber saw:\n%s", script(got))
		}
	})
}
