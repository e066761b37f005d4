package pgstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/domain/event"
)

// These tests live here, not in package eventstore, because they need a Postgres store and
// pgstore imports eventstore. They edit rows with SQL behind the store's back, as someone
// with database access could, and expect eventstore.Verify to name the edited event.

// tamperSetup appends, interleaved, a1 b1 a2 a3 c1 b2 a4 to a fresh schema and returns the
// store, the schema (for raw SQL) and the log in cursor order.
func tamperSetup(t *testing.T) (*pgstore.Store, *pgtest.Schema, []eventstore.Recorded) {
	t.Helper()
	schema := pgtest.New(t)
	s := newStore(t, schema.Pool, pgstore.Config{})
	ctx := t.Context()
	plan := []struct {
		stream string
		n      int
	}{{"thing-a", 1}, {"thing-b", 1}, {"thing-a", 2}, {"thing-c", 1}, {"thing-b", 1}, {"thing-a", 1}}
	total := 0
	for _, step := range plan {
		var ps []eventstore.Proposed
		for range step.n {
			total++
			ps = append(ps, eventstore.Proposed{
				ID:            ulid.Make(),
				Type:          "ThingHappened",
				SchemaVersion: 1,
				Data:          json.RawMessage(fmt.Sprintf(`{"n": %d}`, total)),
				Metadata:      event.Metadata{Actor: "alice", CorrelationID: "corr"},
			})
		}
		if _, err := s.Append(ctx, step.stream, eventstore.Any, ps...); err != nil {
			t.Fatalf("append to %s: %v", step.stream, err)
		}
	}
	return s, schema, visibleLog(t, s, total)
}

// visibleLog waits until the whole log of n events is readable. Another test's open
// transaction on the same server holds back what ReadAll may return; once our rows are
// visible they stay visible, so Verify then sees all of them.
func visibleLog(t *testing.T, s eventstore.Store, n int) []eventstore.Recorded {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, err := s.ReadAll(t.Context(), eventstore.Start, n+1)
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		if len(log) == n {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("log shows %d of %d events after 15s", len(log), n)
		}
		time.Sleep(10 * time.Millisecond) // poll: visibility waits on other transactions
	}
}

func TestVerifyUntouchedLog(t *testing.T) {
	t.Parallel()
	s, _, log := tamperSetup(t)
	for _, batch := range []int{1, 3, 1000} {
		rep, err := eventstore.Verify(t.Context(), s, eventstore.WithBatchSize(batch))
		if err != nil {
			t.Fatalf("batch %d: Verify: %v", batch, err)
		}
		if want := (eventstore.Report{Events: 7, Streams: 3, Last: log[6].Position}); rep != want {
			t.Errorf("batch %d: report %+v, want %+v", batch, rep, want)
		}
	}
}

func TestVerifyNamesTheRowEditedWithSQL(t *testing.T) {
	t.Parallel()
	// Log order: a1 b1 a2 a3 c1 b2 a4.
	tests := []struct {
		name     string
		sql      string // $1 stream, $2 version of the edited row
		stream   string
		version  int64
		logIndex int    // the event Verify must name, as index into the untouched log
		reason   string // part of BrokenLinkError.Reason
	}{
		{
			name:   "data rewritten",
			sql:    `UPDATE events SET data = '{"n": 999}' WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-a", version: 3, logIndex: 3, reason: "hash does not match",
		},
		{
			name:   "data reformatted only",
			sql:    `UPDATE events SET data = replace(data::text, ' ', '')::json WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-b", version: 2, logIndex: 5, reason: "hash does not match",
		},
		{
			name: "metadata actor changed",
			sql: `UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{actor}', '"mallory"')::json
			      WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-c", version: 1, logIndex: 4, reason: "hash does not match",
		},
		{
			name:   "event type changed",
			sql:    `UPDATE events SET event_type = 'ThingUndone' WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-a", version: 1, logIndex: 0, reason: "hash does not match",
		},
		{
			name:   "hash overwritten",
			sql:    `UPDATE events SET hash = sha256('forged'::bytea) WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-b", version: 1, logIndex: 1, reason: "hash does not match",
		},
		{
			name:   "prev_hash overwritten",
			sql:    `UPDATE events SET prev_hash = NULL WHERE stream_id = $1 AND stream_version = $2`,
			stream: "thing-a", version: 4, logIndex: 6, reason: "previous hash does not match the hash of version 3",
		},
		{
			name:   "middle event deleted",
			sql:    `DELETE FROM events WHERE stream_id = $1 AND stream_version = $2 - 1`,
			stream: "thing-a", version: 3, logIndex: 3, reason: "version 3 follows version 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, schema, log := tamperSetup(t)
			tag, err := schema.Pool.Exec(t.Context(), tt.sql, tt.stream, tt.version)
			if err != nil {
				t.Fatalf("tamper: %v", err)
			}
			if tag.RowsAffected() != 1 {
				t.Fatalf("tamper changed %d rows, want 1", tag.RowsAffected())
			}

			_, err = eventstore.Verify(t.Context(), s)

			var broken *eventstore.BrokenLinkError
			if !errors.As(err, &broken) || !errors.Is(err, eventstore.ErrBrokenChain) {
				t.Fatalf("Verify = %v, want a *BrokenLinkError matching ErrBrokenChain", err)
			}
			want := log[tt.logIndex]
			if broken.Stream != tt.stream || broken.Version != tt.version || broken.EventID != want.ID || broken.Position != want.Position {
				t.Errorf("Verify names %s@%d (event %s at %s), want %s@%d (event %s at %s)",
					broken.Stream, broken.Version, broken.EventID, broken.Position,
					tt.stream, tt.version, want.ID, want.Position)
			}
			if !strings.Contains(broken.Reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", broken.Reason, tt.reason)
			}
		})
	}
}

// A recomputed hash moves the break to the next event of the stream, which still names
// the old hash: Verify reports that successor.
func TestVerifyCatchesARehashedForgery(t *testing.T) {
	t.Parallel()
	s, schema, log := tamperSetup(t)
	ctx := t.Context()
	a2 := log[2]
	a2.Data = json.RawMessage(`{"n": 999}`)
	forged := eventstore.Chain(a2.PrevHash, a2)
	if _, err := schema.Pool.Exec(ctx, `UPDATE events SET data = $1::json, hash = $2 WHERE event_id = $3`,
		string(a2.Data), forged, [16]byte(a2.ID)); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	_, err := eventstore.Verify(ctx, s)
	var broken *eventstore.BrokenLinkError
	if !errors.As(err, &broken) {
		t.Fatalf("Verify = %v, want a broken link", err)
	}
	if broken.Stream != "thing-a" || broken.Version != 3 || broken.EventID != log[3].ID {
		t.Errorf("Verify names %s@%d (%s), want thing-a@3 (%s)", broken.Stream, broken.Version, broken.EventID, log[3].ID)
	}
	if !strings.Contains(broken.Reason, "previous hash does not match the hash of version 2") {
		t.Errorf("reason %q, want it to blame the link to version 2", broken.Reason)
	}
}
