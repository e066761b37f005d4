package eventstoretest

import (
	"bytes"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
)

func runChain(t *testing.T, newStore NewStore) {
	t.Run("EachEventHashesOntoThePreviousOfItsStream", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := streamName(t, "a"), streamName(t, "b")
		mustAppend(t, s, a, eventstore.NoStream, numbered("Linked", 3)...)
		mustAppend(t, s, b, eventstore.NoStream, ev("Other", `{}`)) // interleaved: chains are per stream
		mustAppend(t, s, a, eventstore.Exact(3), numbered("Linked", 2)...)

		for _, stream := range []string{a, b} {
			got := mustReadStream(t, s, stream)
			verifyChain(t, got)
		}
		// The global log carries the same hashes.
		all := readAllUntil(t, s, eventstore.Start, 100, 6, ownFilter(a, b))
		byStream := map[string][]eventstore.Recorded{}
		for _, r := range all {
			byStream[r.StreamID] = append(byStream[r.StreamID], r)
		}
		verifyChain(t, byStream[a])
		verifyChain(t, byStream[b])
	})
}

// verifyChain recomputes every hash of one stream's events, read in version order.
func verifyChain(t *testing.T, events []eventstore.Recorded) {
	t.Helper()
	var prev []byte
	for _, r := range events {
		if !bytes.Equal(r.PrevHash, prev) {
			t.Fatalf("%s@%d: PrevHash %x, want the previous event's hash %x", r.StreamID, r.StreamVersion, r.PrevHash, prev)
		}
		if want := eventstore.Chain(prev, r); !bytes.Equal(r.Hash, want) {
			t.Fatalf("%s@%d: Hash %x, want Chain(prev, event) = %x", r.StreamID, r.StreamVersion, r.Hash, want)
		}
		if len(r.Hash) == 0 {
			t.Fatalf("%s@%d has no hash", r.StreamID, r.StreamVersion)
		}
		prev = r.Hash
	}
}
