package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
)

func runConcurrency(t *testing.T, newStore NewStore) {
	t.Run("SameExactVersionExactlyOneWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "race")
		mustAppend(t, s, stream, eventstore.NoStream, ev("Created", `{}`))
		const writers = 8
		errs := make([]error, writers)
		batches := make([][]eventstore.Proposed, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			batches[i] = numbered(fmt.Sprintf("Raced%d", i), 2)
			wg.Go(func() {
				<-start
				_, errs[i] = s.Append(context.Background(), stream, eventstore.Exact(1), batches[i]...)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("writers %d and %d both appended at version 1", winner, i)
			case err == nil:
				winner = i
			default:
				conflict(t, err, stream, eventstore.Exact(1), 3)
			}
		}
		if winner < 0 {
			t.Fatalf("no writer won: %v", errors.Join(errs...))
		}
		got := mustReadStream(t, s, stream)
		if len(got) != 3 || !sameIDs(ids(got[1:]), ids(batches[winner])) {
			t.Fatalf("stream holds more than the winner's batch:\n%s", script(got))
		}
	})

	t.Run("ConcurrentAnyAppendsAllLandWithoutGaps", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "anyrace")
		const writers, appends = 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers*appends)
		for w := range writers {
			wg.Go(func() {
				for i := range appends {
					_, err := s.Append(context.Background(), stream, eventstore.Any, ev("Counted", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("append with Any under contention: %v", err)
			}
		}
		got := mustReadStream(t, s, stream)
		for i, r := range got {
			if r.StreamVersion != int64(i+1) {
				t.Fatalf("versions have a gap or repeat at %d:\n%s", i, script(got))
			}
		}
		if len(got) != writers*appends {
			t.Fatalf("stream holds %d events, want %d", len(got), writers*appends)
		}
	})

	t.Run("SubscriberSeesConcurrentWritersOnceInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers, appends = 4, 10
		streams := make([]string, writers)
		for w := range streams {
			streams[w] = streamName(t, fmt.Sprintf("writer%d", w))
		}
		sub := subscribe(t, s, eventstore.Start, ownFilter(streams...))
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked := map[ulid.ULID]bool{}
		for w := range writers {
			wg.Go(func() {
				for i := range appends {
					batch := numbered("Written", 1+i%3)
					if _, err := s.Append(context.Background(), streams[w], eventstore.Any, batch...); err != nil {
						t.Errorf("writer %d append %d: %v", w, i, err)
						return
					}
					mu.Lock()
					for _, id := range ids(batch) {
						acked[id] = true
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got := sub.waitFor(len(acked))
		sub.stop()
		checkOnceInOrder(t, got, acked)
	})
}

// checkOnceInOrder asserts a subscriber saw exactly the acknowledged events, each once, with
// every stream's versions consecutive. (Strictly increasing positions are checked on delivery.)
func checkOnceInOrder(t *testing.T, got []eventstore.Recorded, acked map[ulid.ULID]bool) {
	t.Helper()
	seen := map[ulid.ULID]bool{}
	version := map[string]int64{}
	for _, r := range got {
		if seen[r.ID] {
			t.Fatalf("event %s (%s@%d) delivered twice", r.ID, r.StreamID, r.StreamVersion)
		}
		seen[r.ID] = true
		if !acked[r.ID] {
			t.Fatalf("event %s (%s@%d) delivered but never acknowledged to a writer", r.ID, r.StreamID, r.StreamVersion)
		}
		if r.StreamVersion != version[r.StreamID]+1 {
			t.Fatalf("%s: version %d delivered after %d", r.StreamID, r.StreamVersion, version[r.StreamID])
		}
		version[r.StreamID] = r.StreamVersion
	}
	if len(seen) != len(acked) {
		t.Fatalf("subscriber saw %d of %d acknowledged events", len(seen), len(acked))
	}
}
