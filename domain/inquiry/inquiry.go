package inquiry

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attune-go/attune/domain/event"
)

// Status is where an inquiry stands.
type Status string

// The statuses: pending until exactly one of the others.
const (
	Pending   Status = "pending"
	Responded Status = "responded"
	TimedOut  Status = "timed_out"
	Cancelled Status = "cancelled"
)

// Statuses lists every status.
var Statuses = []Status{Pending, Responded, TimedOut, Cancelled}

// ParseStatus accepts exactly the names of Statuses.
func ParseStatus(s string) (Status, error) {
	if st := Status(s); slices.Contains(Statuses, st) {
		return st, nil
	}
	return "", fmt.Errorf("unknown inquiry status %q (want one of %v)", s, Statuses)
}

// ClosedError is an answer to an inquiry that no longer takes one: answered already, timed
// out or cancelled.
type ClosedError struct {
	ID     string
	Status Status
}

func (e *ClosedError) Error() string {
	switch e.Status {
	case Responded:
		return fmt.Sprintf("inquiry %s was answered already; it takes one answer", e.ID)
	case TimedOut:
		return fmt.Sprintf("inquiry %s timed out; it takes no answer any more", e.ID)
	}
	return fmt.Sprintf("inquiry %s was %s; it takes no answer", e.ID, e.Status)
}

// ErrNotAllowed is an answer from a token the inquiry does not name, by its name or its role.
var ErrNotAllowed = errors.New("not allowed to answer this inquiry")

// Inquiry is one inquiry folded from its stream.
type Inquiry struct {
	created   InquiryCreated
	status    Status
	responder string
	response  json.RawMessage
	version   int64
}

// FromEvents folds an inquiry's stream: InquiryCreated, then at most one of InquiryResponded,
// InquiryTimedOut, InquiryCancelled. Anything else is refused rather than guessed at.
func FromEvents(events []event.Event) (*Inquiry, error) {
	if len(events) == 0 {
		return nil, errors.New("fold inquiry: empty stream")
	}
	q := &Inquiry{}
	for i, e := range events {
		if err := q.Apply(e); err != nil {
			return nil, fmt.Errorf("fold inquiry event %d (%s): %w", i+1, e.EventType(), err)
		}
	}
	return q, nil
}

// Apply folds one more event of the stream.
func (q *Inquiry) Apply(e event.Event) error {
	switch v := e.(type) { // values as well as the pointers the log decodes into
	case InquiryCreated:
		e = &v
	case InquiryResponded:
		e = &v
	case InquiryTimedOut:
		e = &v
	case InquiryCancelled:
		e = &v
	}
	if q.status == "" {
		c, ok := e.(*InquiryCreated)
		if !ok {
			return errors.New("stream does not open with InquiryCreated")
		}
		if c.InquiryID == "" {
			return errors.New("inquiry created without an id")
		}
		q.created, q.status, q.version = *c, Pending, 1
		return nil
	}
	if q.status != Pending {
		return fmt.Errorf("inquiry %s is %s already", q.ID(), q.status)
	}
	switch e := e.(type) {
	case *InquiryResponded:
		q.status, q.responder, q.response = Responded, e.Responder, e.Response
	case *InquiryTimedOut:
		q.status = TimedOut
	case *InquiryCancelled:
		q.status = Cancelled
	default:
		return fmt.Errorf("%s is not an event of an inquiry", e.EventType())
	}
	q.version++
	return nil
}

// Respond decides the answer of the token named responder, whose role allows what allows
// says (allows("operator") is true for an operator or an admin). The answer must already
// satisfy the schema (the caller validates it: the schema language is no domain matter).
// It returns ErrNotAllowed for a token the inquiry does not name, and a *ClosedError once
// the inquiry is closed or its deadline has passed.
func (q *Inquiry) Respond(responder string, allows func(role string) bool, answer json.RawMessage, now time.Time) (InquiryResponded, error) {
	if !q.MayAnswer(responder, allows) {
		return InquiryResponded{}, fmt.Errorf("token %q: %w (%s)", responder, ErrNotAllowed, q.Who())
	}
	if err := q.Open(now); err != nil {
		return InquiryResponded{}, err
	}
	return InquiryResponded{InquiryID: q.ID(), Responder: responder, Response: answer}, nil
}

// Open returns a *ClosedError unless the inquiry still takes an answer at now.
func (q *Inquiry) Open(now time.Time) error {
	if q.status != Pending {
		return &ClosedError{ID: q.ID(), Status: q.status}
	}
	if q.Expired(now) {
		return &ClosedError{ID: q.ID(), Status: TimedOut}
	}
	return nil
}

// MayAnswer reports whether the token named name, whose role allows what allows says, may
// answer: named in Tokens, or holding at least one of Roles; with neither list, an operator
// or above.
func (q *Inquiry) MayAnswer(name string, allows func(role string) bool) bool {
	c := q.created
	if len(c.Roles) == 0 && len(c.Tokens) == 0 {
		return allows(DefaultRole)
	}
	return slices.Contains(c.Tokens, name) || slices.ContainsFunc(c.Roles, allows)
}

// DefaultRole is the least role that may answer an inquiry naming no roles and no tokens.
const DefaultRole = "operator"

// Who says who may answer, for error messages.
func (q *Inquiry) Who() string {
	c := q.created
	switch {
	case len(c.Roles) == 0 && len(c.Tokens) == 0:
		return "it names no roles or tokens, so role " + DefaultRole + " or above may answer"
	case len(c.Tokens) == 0:
		return fmt.Sprintf("roles %v or above may answer", c.Roles)
	case len(c.Roles) == 0:
		return fmt.Sprintf("tokens %v may answer", c.Tokens)
	}
	return fmt.Sprintf("tokens %v and roles %v or above may answer", c.Tokens, c.Roles)
}

// Expired reports whether the deadline has passed at now.
func (q *Inquiry) Expired(now time.Time) bool { return !now.Before(q.created.ExpiresAt) }

// TimeOut decides InquiryTimedOut; ok is false when the inquiry is closed or not yet due.
func (q *Inquiry) TimeOut(now time.Time) (InquiryTimedOut, bool) {
	if q.status != Pending || !q.Expired(now) {
		return InquiryTimedOut{}, false
	}
	return InquiryTimedOut{InquiryID: q.ID(), ExpiresAt: q.created.ExpiresAt}, true
}

// Cancel decides InquiryCancelled; ok is false when the inquiry is closed already.
func (q *Inquiry) Cancel(reason string) (InquiryCancelled, bool) {
	if q.status != Pending {
		return InquiryCancelled{}, false
	}
	return InquiryCancelled{InquiryID: q.ID(), Reason: reason}, true
}

// ID is the inquiry's id (its execution's).
func (q *Inquiry) ID() string { return q.created.InquiryID }

// Created is the question as asked.
func (q *Inquiry) Created() InquiryCreated { return q.created }

// Status is where it stands.
func (q *Inquiry) Status() Status { return q.status }

// Responder is the token that answered; empty unless responded.
func (q *Inquiry) Responder() string { return q.responder }

// Response is the accepted answer; nil unless responded.
func (q *Inquiry) Response() json.RawMessage { return q.response }

// ExpiresAt is the deadline.
func (q *Inquiry) ExpiresAt() time.Time { return q.created.ExpiresAt }

// Version is the number of events folded, i.e. the stream's version.
func (q *Inquiry) Version() int64 { return q.version }
