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

// runAppendMany checks the multi-stream append: one verdict per entry, a conflict or an
// invalid entry failing alone, entries of one stream applied in order, and the log it leaves
// (chains, cursor order, subscribers) the same as single appends leave.
func runAppendMany(t *testing.T, newStore NewStore) {
	t.Run("EveryEntryLandsWithItsOwnResult", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		fresh, existing, anyStream := streamName(t, "manyfresh"), streamName(t, "manyexisting"), streamName(t, "manyany")
		mustAppend(t, s, existing, eventstore.NoStream, numbered("Existed", 2)...)
		mustAppend(t, s, anyStream, eventstore.NoStream, ev("Existed", `{}`))
		batches := [][]eventstore.Proposed{numbered("Fresh", 2), numbered("Next", 1), numbered("Whatever", 3)}
		results := mustAppendMany(t, s,
			eventstore.StreamAppend{Stream: fresh, Expected: eventstore.NoStream, Events: batches[0]},
			eventstore.StreamAppend{Stream: existing, Expected: eventstore.Exact(2), Events: batches[1]},
			eventstore.StreamAppend{Stream: anyStream, Expected: eventstore.Any, Events: batches[2]},
		)
		for i, want := range []int64{2, 3, 4} {
			if results[i].Err != nil || results[i].NextExpected != want {
				t.Errorf("entry %d: %+v, want NextExpected %d and no error", i, results[i], want)
			}
		}
		for i, stream := range []string{fresh, existing, anyStream} {
			got := mustReadStream(t, s, stream)
			if n := len(got); n < len(batches[i]) || !sameIDs(ids(got[n-len(batches[i]):]), ids(batches[i])) {
				t.Errorf("%s does not end with entry %d's events:\n%s", stream, i, script(got))
			}
		}
	})

	t.Run("AConflictFailsItsEntryAloneAndTheOthersAreWritten", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ok1, behind, exists, ok2 := streamName(t, "manyok1"), streamName(t, "manybehind"), streamName(t, "manyexists"), streamName(t, "manyok2")
		mustAppend(t, s, behind, eventstore.NoStream, numbered("Existed", 2)...)
		mustAppend(t, s, exists, eventstore.NoStream, ev("Existed", `{}`))
		results := mustAppendMany(t, s,
			eventstore.StreamAppend{Stream: ok1, Expected: eventstore.NoStream, Events: numbered("Ok", 1)},
			eventstore.StreamAppend{Stream: behind, Expected: eventstore.Exact(1), Events: numbered("Stale", 2)},
			eventstore.StreamAppend{Stream: exists, Expected: eventstore.NoStream, Events: numbered("Again", 1)},
			eventstore.StreamAppend{Stream: ok2, Expected: eventstore.Any, Events: numbered("Ok", 2)},
		)
		conflict(t, results[1].Err, behind, eventstore.Exact(1), 2)
		conflict(t, results[2].Err, exists, eventstore.NoStream, 1)
		if results[0].Err != nil || results[0].NextExpected != 1 || results[3].Err != nil || results[3].NextExpected != 2 {
			t.Fatalf("the entries beside the conflicts: %+v and %+v, want both written", results[0], results[3])
		}
		if got := mustReadStream(t, s, behind); len(got) != 2 {
			t.Fatalf("the conflicting entry wrote to its stream:\n%s", script(got))
		}
		if got := mustReadStream(t, s, exists); len(got) != 1 {
			t.Fatalf("the conflicting entry wrote to its stream:\n%s", script(got))
		}
		if got := mustReadStream(t, s, ok1); len(got) != 1 {
			t.Fatalf("%s holds:\n%s", ok1, script(got))
		}
		if got := mustReadStream(t, s, ok2); len(got) != 2 {
			t.Fatalf("%s holds:\n%s", ok2, script(got))
		}
	})

	t.Run("EntriesOfOneStreamApplyInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "manysame")
		first, second, lost, last := numbered("First", 2), numbered("Second", 1), numbered("Lost", 1), numbered("Last", 1)
		results := mustAppendMany(t, s,
			eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: first},
			eventstore.StreamAppend{Stream: stream, Expected: eventstore.Exact(2), Events: second},
			// Two callers that read the same version: the first entry wins, as it would in time.
			eventstore.StreamAppend{Stream: stream, Expected: eventstore.Exact(2), Events: lost},
			eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: last},
		)
		if results[0].NextExpected != 2 || results[1].NextExpected != 3 || results[3].NextExpected != 4 ||
			results[0].Err != nil || results[1].Err != nil || results[3].Err != nil {
			t.Fatalf("results %+v, want versions 2, 3, conflict, 4", results)
		}
		conflict(t, results[2].Err, stream, eventstore.Exact(2), 3)
		got := mustReadStream(t, s, stream)
		want := append(append(append([]eventstore.Proposed{}, first...), second...), last...)
		if !sameIDs(ids(got), ids(want)) {
			t.Fatalf("stream holds:\n%s", script(got))
		}
		verifyChain(t, got)
	})

	t.Run("AnInvalidEntryFailsAlone", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		good, bad := streamName(t, "manygood"), streamName(t, "manybad")
		results := mustAppendMany(t, s,
			eventstore.StreamAppend{Stream: bad, Expected: eventstore.Any, Events: nil},
			eventstore.StreamAppend{Stream: good, Expected: eventstore.NoStream, Events: numbered("Fine", 1)},
			eventstore.StreamAppend{Stream: bad, Expected: eventstore.Any, Events: []eventstore.Proposed{ev("Broken", `{"unterminated": `)}},
			eventstore.StreamAppend{Stream: "", Expected: eventstore.Any, Events: numbered("Nowhere", 1)},
		)
		for _, i := range []int{0, 2, 3} {
			if !errors.Is(results[i].Err, eventstore.ErrInvalidAppend) {
				t.Errorf("entry %d: err = %v, want ErrInvalidAppend", i, results[i].Err)
			}
		}
		if results[1].Err != nil || results[1].NextExpected != 1 {
			t.Fatalf("the valid entry: %+v, want written", results[1])
		}
		if got := mustReadStream(t, s, bad); len(got) != 0 {
			t.Fatalf("invalid entries wrote:\n%s", script(got))
		}
	})

	t.Run("AnEmptyRequestWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, req := range [][]eventstore.StreamAppend{nil, {}} {
			results, err := s.AppendMany(context.Background(), req)
			if err != nil || len(results) != 0 {
				t.Fatalf("AppendMany(%v) = %v, %v; want no results, no error", req, results, err)
			}
		}
	})

	t.Run("AnEndedContextFailsTheRequestAndWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "manycancelled")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		results, err := s.AppendMany(ctx, []eventstore.StreamAppend{{Stream: stream, Expected: eventstore.NoStream, Events: numbered("Never", 1)}})
		if !errors.Is(err, context.Canceled) || results != nil {
			t.Fatalf("AppendMany with an ended context = %v, %v; want context.Canceled and no results", results, err)
		}
		if got := mustReadStream(t, s, stream); len(got) != 0 {
			t.Fatalf("a cancelled request wrote:\n%s", script(got))
		}
	})

	t.Run("ChainsAndCursorOrderHoldAcrossARequest", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := streamName(t, "manychaina"), streamName(t, "manychainb")
		mustAppend(t, s, a, eventstore.NoStream, numbered("Linked", 2)...)
		mustAppendMany(t, s,
			eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream, Events: numbered("Other", 2)},
			eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(2), Events: numbered("Linked", 2)},
			eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(2), Events: numbered("Other", 1)},
		)
		mustAppend(t, s, a, eventstore.Exact(4), ev("Linked", `{}`))
		for _, stream := range []string{a, b} {
			verifyChain(t, mustReadStream(t, s, stream))
		}
		// The global log (positions strictly increasing, checked while paging) carries the
		// request's events in its order, after what came before and before what came after.
		all := readAllUntil(t, s, eventstore.Start, 3, 8, ownFilter(a, b))
		var order string
		for _, r := range all {
			order += fmt.Sprintf("%s@%d ", map[string]string{a: "a", b: "b"}[r.StreamID], r.StreamVersion)
		}
		if order != "a@1 a@2 b@1 b@2 a@3 a@4 b@3 a@5 " {
			t.Fatalf("global order %s", order)
		}
		byStream := map[string][]eventstore.Recorded{}
		for _, r := range all {
			byStream[r.StreamID] = append(byStream[r.StreamID], r)
		}
		verifyChain(t, byStream[a])
		verifyChain(t, byStream[b])
	})

	t.Run("SubscriberSeesConcurrentRequestsOnceInOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers, requests = 4, 8
		shared := streamName(t, "manyshared")
		own := make([]string, writers)
		for w := range own {
			own[w] = streamName(t, fmt.Sprintf("manywriter%d", w))
		}
		sub := subscribe(t, s, eventstore.Start, ownFilter(append([]string{shared}, own...)...))
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			acked = map[ulid.ULID]bool{}
		)
		for w := range writers {
			wg.Go(func() {
				var version int64
				for i := range requests {
					mine, theirs := numbered("Mine", 1+i%2), numbered("Shared", 1)
					results, err := s.AppendMany(context.Background(), []eventstore.StreamAppend{
						{Stream: own[w], Expected: eventstore.Exact(version), Events: mine},
						{Stream: shared, Expected: eventstore.Any, Events: theirs},
					})
					if err != nil {
						t.Errorf("writer %d request %d: %v", w, i, err)
						return
					}
					for j, r := range results {
						if r.Err != nil {
							t.Errorf("writer %d request %d entry %d: %v", w, i, j, r.Err)
							return
						}
					}
					version = results[0].NextExpected
					mu.Lock()
					for _, id := range append(ids(mine), ids(theirs)...) {
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
		for _, stream := range append([]string{shared}, own...) {
			verifyChain(t, mustReadStream(t, s, stream))
		}
	})
}

func mustAppendMany(t *testing.T, s eventstore.Store, appends ...eventstore.StreamAppend) []eventstore.StreamResult {
	t.Helper()
	results, err := s.AppendMany(context.Background(), appends)
	if err != nil {
		t.Fatalf("append to %d streams: %v", len(appends), err)
	}
	if len(results) != len(appends) {
		t.Fatalf("%d results for %d entries", len(results), len(appends))
	}
	return results
}
