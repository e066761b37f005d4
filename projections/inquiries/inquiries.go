// Package inquiries is the inquiries read model: one row per inquiry (a question core.ask
// waits on), folded from its stream — InquiryCreated, then InquiryResponded, InquiryTimedOut
// or InquiryCancelled — and the filters and pages the API lists them with.
package inquiries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/projections/internal/keyset"
	"github.com/attune-go/attune/projections/internal/rowfold"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:inquiries"

// ErrNotFound is returned for an inquiry the read model does not hold (yet).
var ErrNotFound = errors.New("inquiry not found")

// Inquiry is one row of the read model.
type Inquiry struct {
	ID                string
	ExecutionID       string
	ParentExecutionID string // the workflow execution, when a workflow task asks
	Task              string
	Route             string
	Schema            json.RawMessage
	SchemaKind        inquiry.SchemaKind
	Roles             []string
	Tokens            []string
	TTLSeconds        int
	Status            inquiry.Status
	Responder         string
	Response          json.RawMessage
	Reason            string // why it was cancelled
	CreatedAt         time.Time
	ExpiresAt         time.Time
	RespondedAt       time.Time // zero unless responded
	UpdatedAt         time.Time // when it was created or closed
	Version           int64     // stream version of the last event applied
	Position          eventstore.Position
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	LoadInquiries(ctx context.Context, ids []string) (map[string]Inquiry, error)
	SaveInquiries(ctx context.Context, rows []Inquiry) error
}

var projected = map[string]bool{
	inquiry.InquiryCreated{}.EventType():   true,
	inquiry.InquiryResponded{}.EventType(): true,
	inquiry.InquiryTimedOut{}.EventType():  true,
	inquiry.InquiryCancelled{}.EventType(): true,
}

// Apply folds one batch: one load and one save, however many events it holds.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	changes, ids, err := rowfold.Select(Name, "inquiry id", batch, projected, inquiryID)
	if err != nil || len(changes) == 0 {
		return err
	}
	rows, err := s.LoadInquiries(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d inquiries: %w", Name, len(ids), err)
	}
	for _, c := range changes {
		x, ok := rows[c.ID]
		if !ok {
			x = Inquiry{ID: c.ID, Status: inquiry.Pending}
		}
		x.apply(c.R, c.E)
		rows[c.ID] = x
	}
	out := make([]Inquiry, 0, len(ids))
	for _, id := range ids {
		out = append(out, rows[id])
	}
	if err := s.SaveInquiries(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d inquiries: %w", Name, len(out), err)
	}
	return nil
}

func inquiryID(e event.Event) string {
	switch e := e.(type) {
	case *inquiry.InquiryCreated:
		return e.InquiryID
	case *inquiry.InquiryResponded:
		return e.InquiryID
	case *inquiry.InquiryTimedOut:
		return e.InquiryID
	case *inquiry.InquiryCancelled:
		return e.InquiryID
	}
	return ""
}

// apply records one event; the log is the truth, so the row takes what the event says.
func (x *Inquiry) apply(r eventstore.Recorded, e event.Event) {
	x.UpdatedAt, x.Version, x.Position = r.RecordedAt, r.StreamVersion, r.Position
	switch e := e.(type) {
	case *inquiry.InquiryCreated:
		x.CreatedAt, x.Status = r.RecordedAt, inquiry.Pending
		x.ExecutionID, x.ParentExecutionID, x.Task, x.Route = e.ExecutionID, e.ParentExecutionID, e.Task, e.Route
		x.Schema, x.SchemaKind, x.Roles, x.Tokens = e.Schema, e.SchemaKind, e.Roles, e.Tokens
		x.TTLSeconds, x.ExpiresAt = e.TTLSeconds, e.ExpiresAt.UTC()
	case *inquiry.InquiryResponded:
		x.Status, x.Responder, x.Response, x.RespondedAt = inquiry.Responded, e.Responder, e.Response, r.RecordedAt
	case *inquiry.InquiryTimedOut:
		x.Status = inquiry.TimedOut
	case *inquiry.InquiryCancelled:
		x.Status, x.Reason = inquiry.Cancelled, e.Reason
	}
}

// Page sizes of the list.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects inquiries, newest first. Empty fields do not filter.
type Filter struct {
	Status []inquiry.Status // any of them
	Parent string           // the workflow execution that asks
	Limit  int              // 0: DefaultLimit
	Cursor string
}

// Validate returns every problem of the filter at once.
func (f Filter) Validate() error {
	var errs []error
	for _, s := range f.Status {
		if _, err := inquiry.ParseStatus(string(s)); err != nil {
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

// Page is one page of inquiries. Next is empty on the last page.
type Page struct {
	Items []Inquiry
	Next  string
}

// Key is the sort key of the list: created_at descending, then id descending.
type Key = keyset.TimeID

// Cursor returns the cursor of the page after x.
func Cursor(x Inquiry) string { return keyset.EncodeTimeID(x.CreatedAt, x.ID) }

// ParseCursor reads a cursor made by Cursor; ok is false for the first page.
func ParseCursor(c string) (Key, bool, error) { return keyset.DecodeTimeID(c) }
