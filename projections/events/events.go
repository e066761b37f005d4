// Package events is the trigger events read model: one row per EventFired (a timer ticked, a
// webhook arrived, a sensor saw something), and the filters and pages the API lists them
// with. It is insert-only: a trigger event is one fact on its own stream and never changes.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/projections/internal/keyset"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:events"

// ErrNotFound is returned for a trigger event the read model does not hold (yet).
var ErrNotFound = errors.New("trigger event not found")

// Event is one row: a trigger event as fired.
type Event struct {
	ID         string // EventFired.EventID: what enforcements and executions refer to
	Trigger    string
	Source     trigger.Source
	Rule       string // set when the event is for one rule only (a timer tick)
	Sensor     string
	Payload    json.RawMessage
	OccurredAt time.Time // when the source says it happened; zero if it did not say
	Actor      string
	TraceTag   string
	CreatedAt  time.Time // recorded at
	Position   eventstore.Position
}

// Store saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	// SaveTriggerEvents inserts rows, replacing any with the same id.
	SaveTriggerEvents(ctx context.Context, rows []Event) error
}

// Apply records each EventFired of the batch: one save per batch.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	fired := trigger.EventFired{}.EventType()
	var rows []Event
	at := map[string]int{} // one row per id, even if a log held an id twice
	for _, r := range batch {
		if r.Type != fired {
			continue
		}
		e, err := r.Decode()
		if err != nil {
			return fmt.Errorf("project %s: %w", Name, err)
		}
		f, ok := e.(*trigger.EventFired)
		if !ok || f.EventID == "" {
			return fmt.Errorf("project %s: event %s (%s) has no trigger event id", Name, r.ID, r.Type)
		}
		row := Event{
			ID: f.EventID, Trigger: f.Trigger, Source: f.Source, Rule: f.Rule, Sensor: f.Sensor,
			Payload: f.Payload, OccurredAt: f.OccurredAt, Actor: r.Metadata.Actor, TraceTag: r.Metadata.TraceTag,
			CreatedAt: r.RecordedAt, Position: r.Position,
		}
		if i, dup := at[row.ID]; dup {
			rows[i] = row
			continue
		}
		at[row.ID] = len(rows)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := s.SaveTriggerEvents(ctx, rows); err != nil {
		return fmt.Errorf("project %s: save %d trigger events: %w", Name, len(rows), err)
	}
	return nil
}

// Page sizes of the list.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects trigger events, newest first. Empty fields do not filter.
type Filter struct {
	Trigger string
	Source  trigger.Source
	Since   time.Time // recorded at or after
	Until   time.Time // recorded before
	Limit   int       // 0: DefaultLimit
	Cursor  string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	if f.Source != "" {
		if _, err := trigger.ParseSource(string(f.Source)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, keyset.CheckLimit(f.Limit, MaxLimit), keyset.CheckRange(f.Since, f.Until))
	if _, _, err := keyset.DecodeTimeID(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// Page is one page of trigger events. Next is empty on the last page.
type Page struct {
	Items []Event
	Next  string
}

// Cursor returns the cursor of the page after e: its key (created_at, id).
func Cursor(e Event) string { return keyset.EncodeTimeID(e.CreatedAt, e.ID) }

// Key is the sort key of the list: created_at descending, then id descending.
type Key = keyset.TimeID

// ParseCursor reads a cursor made by Cursor; ok is false for the first page.
func ParseCursor(c string) (Key, bool, error) { return keyset.DecodeTimeID(c) }
