package lifecycle

import (
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
)

// inquiryActor is an execution of core.ask as the inquiry engine writes it: the inquiry
// created, the execution pending, then answered (completed with the answer), timed out,
// cancelled, or still waiting.
func (g *gen) inquiryActor() *actor {
	g.n++
	id := ulid.Make().String()
	a := &actor{id: id, versions: map[string]int64{}, md: event.Metadata{CorrelationID: id, Actor: "test", TraceTag: g.tag}}
	q := inquiry.StreamID(id)
	req := &execution.ExecutionRequested{ExecutionID: id, Action: inquiry.AskAction, RunnerType: "builtin",
		Parameters: json.RawMessage(`{"schema":{"approved":{"type":"boolean","required":true}},"ttl":3600}`)}
	created := &inquiry.InquiryCreated{InquiryID: id, ExecutionID: id, Route: "ops", SchemaKind: inquiry.SchemaFlat,
		Schema: json.RawMessage(`{"approved":{"type":"boolean","required":true}}`), TTLSeconds: 3600,
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, g.n, 0, time.UTC)}
	if g.rnd.IntN(2) == 0 {
		created.Roles, created.Tokens = []string{"operator"}, []string{"alice", "bob"}
	}
	a.steps = []step{
		{events: []event.Event{req}},
		{stream: q, events: []event.Event{created}},
		{events: []event.Event{change(id, execution.Requested, execution.Pending, nil)}},
	}
	switch g.rnd.IntN(4) {
	case 0:
		answer := json.RawMessage(`{"approved":true}`)
		a.steps = append(a.steps,
			step{stream: q, events: []event.Event{&inquiry.InquiryResponded{InquiryID: id, Responder: "alice", Response: answer}}},
			step{events: []event.Event{change(id, execution.Pending, execution.Completed, func(e *execution.ExecutionStatusChanged) {
				e.Result, e.Reason = answer, "answered by alice"
			})}})
	case 1:
		a.steps = append(a.steps,
			step{stream: q, events: []event.Event{&inquiry.InquiryTimedOut{InquiryID: id, ExpiresAt: created.ExpiresAt}}},
			step{events: []event.Event{change(id, execution.Pending, execution.Timeout, nil)}})
	case 2:
		a.steps = append(a.steps,
			step{events: []event.Event{change(id, execution.Pending, execution.Cancelled, nil)}},
			step{stream: q, events: []event.Event{&inquiry.InquiryCancelled{InquiryID: id, Reason: "execution cancelled"}}})
	}
	return a
}
