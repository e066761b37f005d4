// Package causality is the index the causal tree of a trigger event is read from: one row per
// event of the log with its stream, type and metadata links (correlation, causation), and
// Build, which assembles a trace — the trigger event, the enforcements it caused, their
// executions and the workflow children under them, each with the log events of its stream.
//
// A trigger event's id is the correlation id of everything it sets off (adapters/sensor
// starts it, metadata.Caused carries it on), so one indexed lookup finds every log event of
// the trace; the tree's shape comes from the explicit ids the payloads carry (an
// enforcement's event, an execution's enforcement and parent), which say it more plainly
// than a walk over causation ids would.
package causality

import (
	"context"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:causality"

// Entry is one row: an event of the log as the trace index knows it.
type Entry struct {
	EventID       string // the envelope's id
	StreamID      string
	StreamVersion int64
	Type          string
	CorrelationID string
	CausationID   string
	Actor         string
	RecordedAt    time.Time
	Position      eventstore.Position
}

// Store saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	// SaveCausality inserts rows, replacing any with the same event id.
	SaveCausality(ctx context.Context, rows []Entry) error
}

// Apply indexes every event of the batch; it decodes nothing, so it takes any type.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	rows := make([]Entry, len(batch))
	for i, r := range batch {
		rows[i] = Entry{
			EventID: r.ID.String(), StreamID: r.StreamID, StreamVersion: r.StreamVersion, Type: r.Type,
			CorrelationID: r.Metadata.CorrelationID, CausationID: r.Metadata.CausationID, Actor: r.Metadata.Actor,
			RecordedAt: r.RecordedAt, Position: r.Position,
		}
	}
	if err := s.SaveCausality(ctx, rows); err != nil {
		return fmt.Errorf("project %s: save %d entries: %w", Name, len(rows), err)
	}
	return nil
}
