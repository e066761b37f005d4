package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
)

// seed appends, interleaved across two streams, a1 b1 a2 a3 b2 and returns the log as read.
func seed(t *testing.T) (*memstore.Store, []eventstore.Recorded) {
	t.Helper()
	ctx := t.Context()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	s := memstore.New(memstore.Config{Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	appendTo := func(stream string, expected eventstore.Expected, payloads ...string) {
		t.Helper()
		var ps []eventstore.Proposed
		for _, p := range payloads {
			ps = append(ps, eventstore.Proposed{
				ID:            ulid.Make(),
				Type:          "ThingHappened",
				SchemaVersion: 1,
				Data:          json.RawMessage(fmt.Sprintf(`{"n":%q}`, p)),
				Metadata:      event.Metadata{Actor: "alice", CorrelationID: "c1"},
			})
		}
		if _, err := s.Append(ctx, stream, expected, ps...); err != nil {
			t.Fatalf("seed %s: %v", stream, err)
		}
	}
	appendTo("thing-a", eventstore.NoStream, "a1")
	appendTo("thing-b", eventstore.NoStream, "b1")
	appendTo("thing-a", eventstore.Exact(1), "a2", "a3")
	appendTo("thing-b", eventstore.Exact(1), "b2")
	log, err := s.ReadAll(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatalf("read seeded log: %v", err)
	}
	if len(log) != 5 {
		t.Fatalf("seeded log has %d events, want 5", len(log))
	}
	return s, log
}

// tampered serves the log of an honest store with some events altered or dropped, as a
// database edited behind the store's back would.
type tampered struct {
	eventstore.Store
	edit func(r *eventstore.Recorded) (keep bool)
}

func (s tampered) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Recorded, error) {
	rs, err := s.Store.ReadAll(ctx, after, limit)
	out := rs[:0]
	for i := range rs {
		if s.edit(&rs[i]) {
			out = append(out, rs[i])
		}
	}
	return out, err
}

// at selects the event of a stream at a version.
func at(r *eventstore.Recorded, stream string, version int64) bool {
	return r.StreamID == stream && r.StreamVersion == version
}

func TestVerifyCleanLog(t *testing.T) {
	t.Parallel()
	s, log := seed(t)
	want := eventstore.Report{Events: 5, Streams: 2, Last: log[4].Position}
	for _, batch := range []int{1, 2, 5, 1000} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			got, err := eventstore.Verify(t.Context(), s, eventstore.WithBatchSize(batch))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != want {
				t.Errorf("report = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyEmptyLog(t *testing.T) {
	t.Parallel()
	got, err := eventstore.Verify(t.Context(), memstore.New(memstore.Config{}))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != (eventstore.Report{}) {
		t.Errorf("report = %+v, want zero", got)
	}
}

func TestVerifyNamesFirstBrokenLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		edit        func(r *eventstore.Recorded) bool
		stream      string
		version     int64
		reason      string
		logIndex    int // the broken event's index in the honest log a1 b1 a2 a3 b2
		eventsAhead int // events verified clean before the broken one
	}{
		{
			name: "data altered",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-a", 2) {
					r.Data = json.RawMessage(`{"n":"forged"}`)
				}
				return true
			},
			stream: "thing-a", version: 2, reason: "hash does not match", eventsAhead: 2, logIndex: 2,
		},
		{
			name: "metadata altered",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-b", 1) {
					r.Metadata.Actor = "mallory"
				}
				return true
			},
			stream: "thing-b", version: 1, reason: "hash does not match", eventsAhead: 1, logIndex: 1,
		},
		{
			name: "recorded_at altered",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-b", 2) {
					r.RecordedAt = r.RecordedAt.Add(-time.Hour)
				}
				return true
			},
			stream: "thing-b", version: 2, reason: "hash does not match", eventsAhead: 4, logIndex: 4,
		},
		{
			name: "hash altered",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-a", 1) {
					r.Hash = append([]byte{r.Hash[0] ^ 1}, r.Hash[1:]...)
				}
				return true
			},
			stream: "thing-a", version: 1, reason: "hash does not match", eventsAhead: 0, logIndex: 0,
		},
		{
			name: "previous hash altered",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-a", 3) {
					r.PrevHash = make([]byte, len(r.PrevHash))
				}
				return true
			},
			stream: "thing-a", version: 3, reason: "previous hash does not match the hash of version 2", eventsAhead: 3, logIndex: 3,
		},
		{
			// An editor who also recomputes the altered event's hash only moves the break
			// to the next event of the stream, which still names the old hash.
			name: "event rewritten with a fresh hash",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-a", 2) {
					r.Data = json.RawMessage(`{"n":"forged"}`)
					r.Hash = eventstore.Chain(r.PrevHash, *r)
				}
				return true
			},
			stream: "thing-a", version: 3, reason: "previous hash does not match", eventsAhead: 3, logIndex: 3,
		},
		{
			name:   "middle event deleted",
			edit:   func(r *eventstore.Recorded) bool { return !at(r, "thing-a", 2) },
			stream: "thing-a", version: 3, reason: "version 3 follows version 1", eventsAhead: 2, logIndex: 3,
		},
		{
			name:   "first event deleted",
			edit:   func(r *eventstore.Recorded) bool { return !at(r, "thing-b", 1) },
			stream: "thing-b", version: 2, reason: "stream starts at version 2", eventsAhead: 3, logIndex: 4,
		},
		{
			name: "event moved to another stream",
			edit: func(r *eventstore.Recorded) bool {
				if at(r, "thing-b", 2) {
					r.StreamID, r.StreamVersion = "thing-a", 4
				}
				return true
			},
			stream: "thing-a", version: 4, reason: "previous hash does not match the hash of version 3", eventsAhead: 4, logIndex: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			honest, log := seed(t)
			want := log[tt.logIndex]

			rep, err := eventstore.Verify(t.Context(), tampered{Store: honest, edit: tt.edit})

			if !errors.Is(err, eventstore.ErrBrokenChain) {
				t.Fatalf("Verify error = %v, want ErrBrokenChain", err)
			}
			var broken *eventstore.BrokenLinkError
			if !errors.As(err, &broken) {
				t.Fatalf("Verify error %T, want *BrokenLinkError", err)
			}
			if broken.Stream != tt.stream || broken.Version != tt.version {
				t.Errorf("broken link at %s v%d, want %s v%d", broken.Stream, broken.Version, tt.stream, tt.version)
			}
			if broken.EventID != want.ID || broken.Position != want.Position {
				t.Errorf("broken link names event %s at %s, want %s at %s", broken.EventID, broken.Position, want.ID, want.Position)
			}
			if !strings.Contains(broken.Reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", broken.Reason, tt.reason)
			}
			if rep.Events != tt.eventsAhead {
				t.Errorf("report counts %d events verified before the break, want %d", rep.Events, tt.eventsAhead)
			}
		})
	}
}

func TestVerifyCarriesChainAcrossBatches(t *testing.T) {
	t.Parallel()
	honest, _ := seed(t)
	forge := func(r *eventstore.Recorded) bool {
		if at(r, "thing-b", 2) {
			r.PrevHash = nil
		}
		return true
	}
	// With one event per read, b2's predecessor b1 was read four calls earlier.
	_, err := eventstore.Verify(t.Context(), tampered{Store: honest, edit: forge}, eventstore.WithBatchSize(1))
	var broken *eventstore.BrokenLinkError
	if !errors.As(err, &broken) || broken.Stream != "thing-b" || broken.Version != 2 {
		t.Fatalf("Verify = %v, want a broken link at thing-b v2", err)
	}
}

type failingLog struct{ eventstore.Store }

var errDiskGone = errors.New("disk gone")

func (failingLog) ReadAll(context.Context, eventstore.Position, int) ([]eventstore.Recorded, error) {
	return nil, errDiskGone
}

func TestVerifyReportsReadFailure(t *testing.T) {
	t.Parallel()
	_, err := eventstore.Verify(t.Context(), failingLog{})
	if !errors.Is(err, errDiskGone) {
		t.Fatalf("Verify error = %v, want it to wrap the read failure", err)
	}
	if errors.Is(err, eventstore.ErrBrokenChain) {
		t.Errorf("a read failure must not be reported as a broken chain: %v", err)
	}
}

// BenchmarkVerify measures the hashing walk alone (in-memory log of 100 streams).
func BenchmarkVerify(b *testing.B) {
	ctx := b.Context()
	s := memstore.New(memstore.Config{})
	const streams, perStream = 100, 100
	for i := range streams {
		ps := make([]eventstore.Proposed, perStream)
		for j := range ps {
			ps[j] = eventstore.Proposed{ID: ulid.Make(), Type: "ThingHappened", SchemaVersion: 1,
				Data: json.RawMessage(`{"action":"core.echo","parameters":{"message":"hello, world"}}`)}
		}
		if _, err := s.Append(ctx, fmt.Sprintf("thing-%d", i), eventstore.NoStream, ps...); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		rep, err := eventstore.Verify(ctx, s)
		if err != nil || rep.Events != streams*perStream {
			b.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*streams*perStream)/b.Elapsed().Seconds(), "events/s")
}
