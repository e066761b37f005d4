package eventstoretest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
)

func runAppend(t *testing.T, newStore NewStore) {
	t.Run("RoundTripKeepsEveryField", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "roundtrip")
		// Odd spacing, key order and escapes: the exact bytes are hashed, so the store must
		// hand back what it was given, not a re-encoding.
		datas := []string{
			`{"b": 1,  "a" : [1, 2.50]}`,
			`{"msg":"h\u00e9llo \"q\" ✓","nested":{"z":null,"y":true}}`,
			`[]`,
		}
		proposed := make([]eventstore.Proposed, len(datas))
		for i, d := range datas {
			proposed[i] = ev("Thing"+string(rune('A'+i)), d)
		}
		proposed[1].SchemaVersion = 3
		proposed[2].Metadata = event.Metadata{CorrelationID: "c", CausationID: "d", Actor: "alice", TraceTag: "tag-1"}

		res := mustAppend(t, s, stream, eventstore.NoStream, proposed...)
		if res.NextExpected != 3 {
			t.Fatalf("NextExpected = %d, want 3", res.NextExpected)
		}
		got := mustReadStream(t, s, stream)
		if len(got) != len(proposed) {
			t.Fatalf("read %d events, want %d:\n%s", len(got), len(proposed), script(got))
		}
		for i, r := range got {
			p := proposed[i]
			if r.ID != p.ID || r.StreamID != stream || r.StreamVersion != int64(i+1) || r.Type != p.Type ||
				r.SchemaVersion != p.SchemaVersion || r.Metadata != p.Metadata {
				t.Errorf("event %d = {%s %s@%d %s v%d %+v}, want {%s %s@%d %s v%d %+v}", i,
					r.ID, r.StreamID, r.StreamVersion, r.Type, r.SchemaVersion, r.Metadata,
					p.ID, stream, i+1, p.Type, p.SchemaVersion, p.Metadata)
			}
			if !bytes.Equal(r.Data, p.Data) {
				t.Errorf("event %d data = %s, want the exact bytes %s", i, r.Data, p.Data)
			}
			if r.RecordedAt.IsZero() {
				t.Errorf("event %d has no RecordedAt", i)
			}
			if i > 0 && !got[i-1].Position.Less(r.Position) {
				t.Errorf("event %d position %s is not after %s", i, r.Position, got[i-1].Position)
			}
		}
	})

	t.Run("AnyAppendsToNewAndExistingStreams", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "any")
		if res := mustAppend(t, s, stream, eventstore.Any, numbered("Ticked", 2)...); res.NextExpected != 2 {
			t.Fatalf("first append: NextExpected = %d, want 2", res.NextExpected)
		}
		if res := mustAppend(t, s, stream, eventstore.Any, numbered("Ticked", 3)...); res.NextExpected != 5 {
			t.Fatalf("second append: NextExpected = %d, want 5", res.NextExpected)
		}
		got := mustReadStream(t, s, stream)
		for i, r := range got {
			if r.StreamVersion != int64(i+1) {
				t.Fatalf("versions are not 1..5:\n%s", script(got))
			}
		}
		if len(got) != 5 {
			t.Fatalf("read %d events, want 5:\n%s", len(got), script(got))
		}
	})

	t.Run("CallerCannotChangeStoredEvents", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "alias")
		p := ev("Noted", `{"v":1}`)
		mustAppend(t, s, stream, eventstore.NoStream, p)
		p.Data[len(p.Data)-2] = '9' // the caller reuses its buffer
		first := mustReadStream(t, s, stream)
		first[0].Data[len(first[0].Data)-2] = '8'
		again := mustReadStream(t, s, stream)
		if string(again[0].Data) != `{"v":1}` {
			t.Fatalf("stored data changed to %s through a caller's slice", again[0].Data)
		}
	})

	t.Run("InvalidAppendIsRejectedAndWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "invalid")
		bad := ev("Broken", `{"unterminated": `)
		noType := ev("", `{}`)
		cases := map[string][]eventstore.Proposed{
			"no events":             nil,
			"data that is not JSON": {ev("Fine", `{}`), bad},
			"event without a type":  {noType},
			"event without an id":   {{Type: "Fine", SchemaVersion: 1, Data: []byte(`{}`)}},
		}
		for name, events := range cases {
			_, err := s.Append(context.Background(), stream, eventstore.Any, events...)
			if !errors.Is(err, eventstore.ErrInvalidAppend) {
				t.Errorf("append with %s: err = %v, want ErrInvalidAppend", name, err)
			}
		}
		if _, err := s.Append(context.Background(), "", eventstore.Any, ev("Fine", `{}`)); !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("append to an empty stream id: err = %v, want ErrInvalidAppend", err)
		}
		if got := mustReadStream(t, s, stream); len(got) != 0 {
			t.Fatalf("rejected appends wrote:\n%s", script(got))
		}
	})

	t.Run("RecordedAtIsNearNow", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		stream := streamName(t, "clock")
		before := time.Now()
		mustAppend(t, s, stream, eventstore.NoStream, ev("Noted", `{}`))
		after := time.Now()
		got := mustReadStream(t, s, stream)
		// A store may use its server's clock; allow for skew, not for a missing stamp.
		if at := got[0].RecordedAt; at.Before(before.Add(-time.Minute)) || at.After(after.Add(time.Minute)) {
			t.Fatalf("RecordedAt = %s, want about %s", at, before)
		}
	})
}
