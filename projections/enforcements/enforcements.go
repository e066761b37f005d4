// Package enforcements is the enforcements read model: one row per enforcement (a rule matched
// a trigger event), folded from EnforcementCreated, EnforcementProcessed and
// EnforcementSkipped, and the filters and pages the API lists them with.
package enforcements

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/projections/internal/keyset"
	"github.com/attune-go/attune/projections/internal/rowfold"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:enforcements"

// ErrNotFound is returned for an enforcement the read model does not hold (yet).
var ErrNotFound = errors.New("enforcement not found")

// Status is where an enforcement stands.
type Status string

// The statuses: created, then processed (its execution was requested) or skipped (why is in
// Reason).
const (
	Created   Status = "created"
	Processed Status = "processed"
	Skipped   Status = "skipped"
)

// Statuses lists every status.
var Statuses = []Status{Created, Processed, Skipped}

// ParseStatus accepts exactly the names of Statuses.
func ParseStatus(s string) (Status, error) {
	if st := Status(s); slices.Contains(Statuses, st) {
		return st, nil
	}
	return "", fmt.Errorf("unknown enforcement status %q (want one of %v)", s, Statuses)
}

// Enforcement is one row of the read model.
type Enforcement struct {
	ID          string
	Rule        string
	Trigger     string
	EventID     string // the trigger event it enforces
	Action      string
	Parameters  json.RawMessage // rendered; secret ones already sealed
	Status      Status
	ExecutionID string // once processed
	Reason      string // why it was skipped, or why its parameters could not be rendered
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64 // stream version of the last event applied
	Position    eventstore.Position
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	LoadEnforcements(ctx context.Context, ids []string) (map[string]Enforcement, error)
	SaveEnforcements(ctx context.Context, rows []Enforcement) error
}

var projected = map[string]bool{
	enforcement.EnforcementCreated{}.EventType():   true,
	enforcement.EnforcementProcessed{}.EventType(): true,
	enforcement.EnforcementSkipped{}.EventType():   true,
}

// Apply folds one batch: one load and one save, however many events it holds.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	changes, ids, err := rowfold.Select(Name, "enforcement id", batch, projected, enforcementID)
	if err != nil || len(changes) == 0 {
		return err
	}
	rows, err := s.LoadEnforcements(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d enforcements: %w", Name, len(ids), err)
	}
	for _, c := range changes {
		x, ok := rows[c.ID]
		if !ok {
			x = Enforcement{ID: c.ID, Status: Created, CreatedAt: c.R.RecordedAt}
		}
		x.apply(c.R, c.E)
		rows[c.ID] = x
	}
	out := make([]Enforcement, 0, len(ids))
	for _, id := range ids {
		out = append(out, rows[id])
	}
	if err := s.SaveEnforcements(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d enforcements: %w", Name, len(out), err)
	}
	return nil
}

func enforcementID(e event.Event) string {
	switch e := e.(type) {
	case *enforcement.EnforcementCreated:
		return e.EnforcementID
	case *enforcement.EnforcementProcessed:
		return e.EnforcementID
	case *enforcement.EnforcementSkipped:
		return e.EnforcementID
	}
	return ""
}

// apply records one event; the log is the truth, so the row takes what the event says.
func (x *Enforcement) apply(r eventstore.Recorded, e event.Event) {
	x.UpdatedAt, x.Version, x.Position = r.RecordedAt, r.StreamVersion, r.Position
	switch e := e.(type) {
	case *enforcement.EnforcementCreated:
		x.CreatedAt = r.RecordedAt
		x.Rule, x.Trigger, x.EventID, x.Action, x.Parameters = e.Rule, e.Trigger, e.EventID, e.Action, e.Parameters
		x.Reason = e.Failure // parameters the rule could not render: its execution fails with this
	case *enforcement.EnforcementProcessed:
		x.Status, x.ExecutionID = Processed, e.ExecutionID
	case *enforcement.EnforcementSkipped:
		x.Status, x.Reason = Skipped, e.Reason
	}
}

// Page sizes of the list.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects enforcements, newest first. Empty fields do not filter.
type Filter struct {
	Rule   string
	Event  string   // trigger event id
	Status []Status // any of them
	Limit  int      // 0: DefaultLimit
	Cursor string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	for _, s := range f.Status {
		if _, err := ParseStatus(string(s)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, keyset.CheckLimit(f.Limit, MaxLimit))
	if _, _, err := keyset.DecodeTimeID(f.Cursor); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PageSize is the number of items a page holds at most.
func (f Filter) PageSize() int { return keyset.PageSize(f.Limit, DefaultLimit) }

// Page is one page of enforcements. Next is empty on the last page.
type Page struct {
	Items []Enforcement
	Next  string
}

// Key is the sort key of the list: created_at descending, then id descending.
type Key = keyset.TimeID

// Cursor returns the cursor of the page after x.
func Cursor(x Enforcement) string { return keyset.EncodeTimeID(x.CreatedAt, x.ID) }

// ParseCursor reads a cursor made by Cursor; ok is false for the first page.
func ParseCursor(c string) (Key, bool, error) { return keyset.DecodeTimeID(c) }
