package eventstoretest

import (
	"context"
	"errors"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
)

// conflict checks that err is the version conflict a caller can act on.
func conflict(t *testing.T, err error, stream string, expected eventstore.Expected, actual int64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("append to %s expecting %s: err = %v, want a version conflict", stream, expected, err)
	}
	var vc *eventstore.VersionConflictError
	if !errors.As(err, &vc) {
		t.Fatalf("append to %s: err = %T %v, want a *VersionConflictError", stream, err, err)
	}
	if vc.Stream != stream || vc.Expected != expected || vc.Actual != actual {
		t.Fatalf("conflict = {%s, expected %s, actual %d}, want {%s, expected %s, actual %d}",
			vc.Stream, vc.Expected, vc.Actual, stream, expected, actual)
	}
}

func runExpected(t *testing.T, newStore NewStore) {
	cases := []struct {
		name     string
		existing int // events already in the stream
		expected eventstore.Expected
		ok       bool
	}{
		{"NoStreamOnNewStream", 0, eventstore.NoStream, true},
		{"NoStreamOnExistingStream", 2, eventstore.NoStream, false},
		{"ExactMatchingVersion", 2, eventstore.Exact(2), true},
		{"ExactBehind", 3, eventstore.Exact(2), false},
		{"ExactAhead", 2, eventstore.Exact(3), false},
		{"ExactOnNewStream", 0, eventstore.Exact(1), false},
		{"ExactZeroIsNoStream", 0, eventstore.Exact(0), true},
		{"AnyOnNewStream", 0, eventstore.Any, true},
		{"AnyOnExistingStream", 2, eventstore.Any, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			stream := streamName(t, "expected")
			if tc.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream, numbered("Existed", tc.existing)...)
			}
			batch := numbered("Proposed", 3)
			res, err := s.Append(context.Background(), stream, tc.expected, batch...)
			got := mustReadStream(t, s, stream)
			if !tc.ok {
				conflict(t, err, stream, tc.expected, int64(tc.existing))
				// Batch atomicity: not one event of the rejected batch is stored.
				if len(got) != tc.existing {
					t.Fatalf("rejected append changed the stream to:\n%s", script(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("append expecting %s to a stream with %d events: %v", tc.expected, tc.existing, err)
			}
			if want := int64(tc.existing + 3); res.NextExpected != want {
				t.Fatalf("NextExpected = %d, want %d", res.NextExpected, want)
			}
			if len(got) != tc.existing+3 || !sameIDs(ids(got[tc.existing:]), ids(batch)) {
				t.Fatalf("stream after append:\n%s", script(got))
			}
		})
	}

	t.Run("NextExpectedChainsAppends", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "chained")
		res := mustAppend(t, s, stream, eventstore.NoStream, ev("First", `{}`))
		res = mustAppend(t, s, stream, eventstore.Exact(res.NextExpected), numbered("Next", 2)...)
		res = mustAppend(t, s, stream, eventstore.Exact(res.NextExpected), ev("Last", `{}`))
		if res.NextExpected != 4 {
			t.Fatalf("NextExpected = %d, want 4", res.NextExpected)
		}
		// The conflict carries what a caller needs to reload and retry.
		_, err := s.Append(context.Background(), stream, eventstore.Exact(1), ev("Stale", `{}`))
		conflict(t, err, stream, eventstore.Exact(1), 4)
	})
}
