package inquiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/inquiry"
)

// ErrNotFound is returned for an inquiry the log does not hold.
var ErrNotFound = errors.New("inquiry not found")

// Responder is who answers: a token's name, and what its role allows (allows("operator") is
// true for an operator or an admin).
type Responder struct {
	Name   string
	Allows func(role string) bool
}

// Answered is what Respond recorded.
type Answered struct {
	InquiryID string
	Responder string
	Response  json.RawMessage // as recorded: a flat schema's defaults applied
}

// Respond is the "answer this inquiry" use case behind POST /api/v1/inquiries/{id}/respond
// and `attune inquiry respond`. Its errors: ErrNotFound; an error wrapping
// inquiry.ErrNotAllowed for a token the inquiry does not name; an *answerschema.FieldError
// for an answer the schema refuses; an *inquiry.ClosedError once it was answered, timed out
// or cancelled. The answer is accepted once: InquiryResponded is appended at the version the
// inquiry was read at, so of two concurrent answers one wins and the other finds it answered.
// Then the execution completes with the answer as its result; should that second append not
// happen here (a crash, an outage), the answered handler or the reaper does it.
func (en *Engine) Respond(ctx context.Context, id string, who Responder, answer json.RawMessage) (Answered, error) {
	for attempt := 0; ; attempt++ {
		recs, events, err := en.read(ctx, inquiry.StreamID(id))
		if err != nil {
			return Answered{}, err
		}
		if len(recs) == 0 {
			return Answered{}, fmt.Errorf("inquiry %s: %w", id, ErrNotFound)
		}
		q, err := inquiry.FromEvents(events)
		if err != nil {
			return Answered{}, fmt.Errorf("inquiry %s: %w", id, err)
		}
		c := q.Created()
		if !q.MayAnswer(who.Name, who.Allows) {
			return Answered{}, fmt.Errorf("token %q: %w (%s)", who.Name, inquiry.ErrNotAllowed, q.Who())
		}
		if err := q.Open(en.now()); err != nil {
			return Answered{}, err
		}
		schema, err := answerschema.CompileAs(c.SchemaKind, c.Schema)
		if err != nil {
			return Answered{}, fmt.Errorf("inquiry %s: its recorded schema does not compile: %w", id, err)
		}
		checked, err := schema.Check(answer)
		if err != nil {
			return Answered{}, err
		}
		responded, err := q.Respond(who.Name, who.Allows, checked, en.now())
		if err != nil {
			return Answered{}, err
		}
		md := recs[0].Metadata // the inquiry's trace
		md.CausationID, md.Actor = "respond:"+who.Name, who.Name
		p, err := eventstore.NewProposed(responded, md)
		if err != nil {
			return Answered{}, err
		}
		_, err = en.log.Append(ctx, inquiry.StreamID(id), eventstore.Exact(q.Version()), p)
		if errors.Is(err, eventstore.ErrVersionConflict) && attempt < 3 {
			continue // answered, timed out or cancelled meanwhile: the next read says which
		}
		if err != nil {
			return Answered{}, fmt.Errorf("record the answer to inquiry %s: %w", id, err)
		}
		out := Answered{InquiryID: id, Responder: who.Name, Response: checked}
		next := md.Caused(p.ID.String())
		if err := en.Settle(ctx, id, &next); err != nil {
			// The answer is recorded; the answered handler (or the reaper) completes the
			// execution. The caller's request succeeded.
			en.logger.WarnContext(ctx, "answer recorded; completing its execution is left to the answered handler", "inquiry_id", id, "error", err)
		}
		return out, nil
	}
}
