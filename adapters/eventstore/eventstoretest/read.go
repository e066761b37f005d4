package eventstoretest

import (
	"context"
	"strconv"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
)

func runReadStream(t *testing.T, newStore NewStore) {
	t.Run("UnknownStreamIsEmpty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		got, err := s.ReadStream(context.Background(), streamName(t, "never"))
		if err != nil {
			t.Fatalf("read an unknown stream: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("unknown stream has events:\n%s", script(got))
		}
	})

	t.Run("OnlyItsOwnEventsInVersionOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := streamName(t, "a"), streamName(t, "b")
		var want []eventstore.Proposed
		for i := range 4 {
			batch := numbered("InA", 1+i%2)
			want = append(want, batch...)
			mustAppend(t, s, a, eventstore.Any, batch...)
			mustAppend(t, s, b, eventstore.Any, ev("InB", `{}`))
		}
		got := mustReadStream(t, s, a)
		if !sameIDs(ids(got), ids(want)) {
			t.Fatalf("stream %s reads:\n%s", a, script(got))
		}
		for i, r := range got {
			if r.StreamID != a || r.StreamVersion != int64(i+1) {
				t.Fatalf("stream %s reads:\n%s", a, script(got))
			}
		}
	})
}

func runReadAll(t *testing.T, newStore NewStore) {
	// three streams appended in turns: the global log must keep the order of the appends.
	setup := func(t *testing.T) (eventstore.Store, []string, []eventstore.Proposed) {
		s := newStore(t)
		streams := []string{streamName(t, "x"), streamName(t, "y"), streamName(t, "z")}
		var appended []eventstore.Proposed
		for i := range 7 {
			batch := numbered("Logged", 1+i%3)
			mustAppend(t, s, streams[i%3], eventstore.Any, batch...)
			appended = append(appended, batch...)
		}
		return s, streams, appended
	}

	for _, limit := range []int{1, 2, 5, 1000} {
		t.Run("PagesInAppendOrder/limit="+strconv.Itoa(limit), func(t *testing.T) {
			t.Parallel()
			s, streams, appended := setup(t)
			got := readAllUntil(t, s, eventstore.Start, limit, len(appended), ownFilter(streams...))
			if !sameIDs(ids(got), ids(appended)) {
				t.Fatalf("global log in another order than the appends:\n%s", script(got))
			}
		})
	}

	t.Run("CursorAtAnEventReturnsTheRest", func(t *testing.T) {
		t.Parallel()
		s, streams, appended := setup(t)
		own := ownFilter(streams...)
		all := readAllUntil(t, s, eventstore.Start, 100, len(appended), own)
		mid := all[4]
		rest := readAllUntil(t, s, mid.Position, 3, len(all)-5, own)
		if !sameIDs(ids(rest), ids(all[5:])) {
			t.Fatalf("after %s read:\n%s\nwant:\n%s", mid.Position, script(rest), script(all[5:]))
		}
		// Nothing of ours follows the last event.
		after, err := s.ReadAll(context.Background(), all[len(all)-1].Position, 100)
		if err != nil {
			t.Fatalf("read after the last event: %v", err)
		}
		for _, r := range after {
			if own(r) {
				t.Fatalf("read after the last event returned %s@%d again", r.StreamID, r.StreamVersion)
			}
		}
	})

	t.Run("PositionsMatchReadStream", func(t *testing.T) {
		t.Parallel()
		s, streams, appended := setup(t)
		all := readAllUntil(t, s, eventstore.Start, 100, len(appended), ownFilter(streams...))
		byID := map[string]eventstore.Recorded{}
		for _, r := range all {
			byID[r.ID.String()] = r
		}
		for _, stream := range streams {
			for _, r := range mustReadStream(t, s, stream) {
				g := byID[r.ID.String()]
				if g.Position != r.Position || g.StreamVersion != r.StreamVersion || string(g.Hash) != string(r.Hash) ||
					!g.RecordedAt.Equal(r.RecordedAt) || string(g.Data) != string(r.Data) || g.Metadata != r.Metadata {
					t.Fatalf("%s@%d differs between ReadStream and ReadAll", r.StreamID, r.StreamVersion)
				}
			}
		}
	})

	t.Run("NonPositiveLimitFails", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, limit := range []int{0, -1} {
			if _, err := s.ReadAll(context.Background(), eventstore.Start, limit); err == nil {
				t.Errorf("ReadAll with limit %d succeeded", limit)
			}
		}
	})
}

func runReadStreamFrom(t *testing.T, newStore NewStore) {
	t.Run("UnknownStreamIsEmpty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, after := range []int64{0, 3} {
			got, err := s.ReadStreamFrom(context.Background(), streamName(t, "never"), after)
			if err != nil {
				t.Fatalf("read an unknown stream after version %d: %v", after, err)
			}
			if len(got) != 0 {
				t.Fatalf("unknown stream has events after version %d:\n%s", after, script(got))
			}
		}
	})

	t.Run("ReturnsTheEventsAfterTheVersion", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := streamName(t, "a"), streamName(t, "b")
		var want []eventstore.Proposed
		for i := range 3 {
			batch := numbered("InA", 1+i%2)
			want = append(want, batch...)
			mustAppend(t, s, a, eventstore.Any, batch...)
			mustAppend(t, s, b, eventstore.Any, ev("InB", `{}`))
		}
		whole := mustReadStream(t, s, a)
		for _, after := range []int64{0, 1, 3, int64(len(want)) - 1, int64(len(want)), int64(len(want)) + 5} {
			got, err := s.ReadStreamFrom(context.Background(), a, after)
			if err != nil {
				t.Fatalf("read %s after version %d: %v", a, after, err)
			}
			rest := want[min(after, int64(len(want))):]
			if !sameIDs(ids(got), ids(rest)) {
				t.Fatalf("stream %s after version %d reads:\n%s", a, after, script(got))
			}
			for i, r := range got {
				if r.StreamID != a || r.StreamVersion != after+int64(i)+1 {
					t.Fatalf("stream %s after version %d reads:\n%s", a, after, script(got))
				}
				if r.Position != whole[r.StreamVersion-1].Position {
					t.Fatalf("%s@%d differs between ReadStream and ReadStreamFrom", a, r.StreamVersion)
				}
			}
		}
	})
}
