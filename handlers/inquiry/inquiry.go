// Package inquiry runs core.ask: the engine, not a worker, asks the question and waits for a
// person's answer. Its decisions live in domain/inquiry; this package folds two streams —
// the asking execution's and the inquiry's (inquiry-<execution id>) — and appends what they
// call for, each append with its expected version, so every step happens once however often
// it is asked for:
//
//   - execution requested, no inquiry: InquiryCreated (NoStream), then requested → pending;
//     requested with the inquiry already there (a crash between the two appends): pending;
//   - execution pending, inquiry responded: pending → completed with the answer as result;
//     timed out: pending → timeout; pending past its deadline: InquiryTimedOut first;
//   - execution ended (cancelled, or failed) while the inquiry is pending: InquiryCancelled.
//
// Settle takes one execution through all of that. It runs from three handlers — ask (on
// ExecutionRequested of core.ask), answered (on InquiryResponded: the answer's second append,
// should its writer have died before it) and closed (on a core.ask execution cancelled or
// failed) — from the respond use case, and from the reaper (Sweep), which enforces deadlines
// and repairs whatever a lost message left half done.
package inquiry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/attune-go/attune/adapters/answerschema"
	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
)

// The handlers' persisted names: they name their queues. Renaming one is a migration.
const (
	AskName      = "inquiry_ask"      // ExecutionRequested.inquiry_ask
	AnsweredName = "inquiry_answered" // InquiryResponded.inquiry_answered
	ClosedName   = "inquiry_cancel"   // ExecutionStatusChanged.inquiry_cancel
)

// Log is what the engine needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Due lists the inquiries the reaper should settle (readmodel.DB.DueInquiries).
type Due func(ctx context.Context, now time.Time, limit int) ([]string, error)

// Config holds the engine's dependencies.
type Config struct {
	Log    Log
	Due    Due              // for Sweep; nil: Sweep does nothing
	Now    func() time.Time // time.Now if nil
	Logger *slog.Logger
}

// Engine asks inquiries and settles their executions.
type Engine struct {
	log    Log
	due    Due
	now    func() time.Time
	logger *slog.Logger
}

// New returns the engine; it panics without a log (a wiring error).
func New(cfg Config) *Engine {
	if cfg.Log == nil {
		panic("inquiry: nil Log")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Engine{log: cfg.Log, due: cfg.Due, now: now, logger: cmp.Or(cfg.Logger, slog.Default()).With("component", "inquiry")}
}

// ClosedKeys bind Closed's queue: what it acts on, a cancelled or failed execution.
var ClosedKeys = bus.StatusKeys(execution.Cancelled, execution.Failed)

// AskKeys bind Ask's queue: the requests of core.ask (bus.RequestedKey).
var AskKeys = []string{bus.RequestedAsk}

// Register subscribes the engine's three handlers.
func Register(r *bus.Router, en *Engine) {
	r.AddKeyedHandler(AskName, execution.ExecutionRequested{}.EventType(), AskKeys, en.Ask)
	r.AddHandler(AnsweredName, inquiry.InquiryResponded{}.EventType(), en.Answered)
	r.AddStatusHandler(ClosedName, ClosedKeys, en.Closed)
}

// Ask reacts to ExecutionRequested: an execution of core.ask asks its question.
func (en *Engine) Ask(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	req, ok := payload.(*execution.ExecutionRequested)
	if !ok || req.Action != inquiry.AskAction {
		return nil
	}
	md := e.Metadata.Caused(e.ID.String())
	return en.Settle(ctx, req.ExecutionID, &md)
}

// Answered reacts to InquiryResponded: the answer becomes the execution's result, if the
// respond use case did not get that far.
func (en *Engine) Answered(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	r, ok := payload.(*inquiry.InquiryResponded)
	if !ok {
		return nil
	}
	md := e.Metadata.Caused(e.ID.String())
	return en.Settle(ctx, r.InquiryID, &md)
}

// Closed reacts to a cancelled or failed execution: if it asked an inquiry still pending,
// the inquiry is cancelled, so nobody can answer it any more.
func (en *Engine) Closed(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	ch, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || (ch.To != execution.Cancelled && ch.To != execution.Failed) || (ch.From != execution.Pending && ch.From != execution.Requested) {
		return nil
	}
	md := e.Metadata.Caused(e.ID.String())
	return en.Settle(ctx, ch.ExecutionID, &md)
}

// maxRounds bounds Settle: each round appends at most one event, and an execution needs at
// most three (InquiryCreated, pending, and its end) plus a few lost races.
const maxRounds = 8

// Settle takes the execution's two streams as far as they go now. md is the metadata of
// what it appends; nil: caused by the execution's latest event. An execution that is not
// core.ask's, or that has nothing left to do, is left alone.
func (en *Engine) Settle(ctx context.Context, executionID string, md *event.Metadata) error {
	for range maxRounds {
		done, err := en.step(ctx, executionID, md)
		if errors.Is(err, eventstore.ErrVersionConflict) {
			continue // somebody else moved a stream: decide again
		}
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("settle inquiry %s: still moving after %d rounds", executionID, maxRounds)
}

// step decides and appends one event; done when nothing is left to do.
func (en *Engine) step(ctx context.Context, id string, md *event.Metadata) (done bool, err error) {
	xRecs, x, err := en.execution(ctx, id)
	if err != nil || x == nil || x.Action() != inquiry.AskAction {
		return true, err
	}
	q, err := en.inquiry(ctx, id)
	if err != nil {
		return true, err
	}
	meta := func() event.Metadata {
		if md != nil {
			return *md
		}
		last := xRecs[len(xRecs)-1]
		return last.Metadata.Caused(last.ID.String())
	}
	switch st := x.Status(); {
	case st == execution.Requested && q == nil && x.NotBefore().After(en.now()):
		return true, nil // a task's delay: the reaper asks once it has passed
	case st == execution.Requested && q == nil:
		return false, en.create(ctx, x, xRecs[0], meta())
	case st == execution.Requested:
		until := q.ExpiresAt().Format(time.RFC3339)
		return false, en.move(ctx, x, execution.Pending, execution.Outcome{Reason: "waiting for an answer until " + until}, meta())
	case st == execution.Pending && q == nil:
		return true, bus.Permanent(fmt.Errorf("execution %s is pending, but its inquiry stream is missing", id))
	case st == execution.Pending:
		switch q.Status() {
		case inquiry.Responded:
			return true, en.move(ctx, x, execution.Completed, execution.Outcome{Result: q.Response(), Reason: "answered by " + q.Responder()}, meta())
		case inquiry.TimedOut:
			return true, en.move(ctx, x, execution.Timeout, execution.Outcome{Reason: "no answer by " + q.ExpiresAt().Format(time.RFC3339)}, meta())
		case inquiry.Cancelled:
			return true, en.move(ctx, x, execution.Cancelled, execution.Outcome{Reason: "inquiry cancelled"}, meta())
		}
		timedOut, due := q.TimeOut(en.now())
		if !due {
			return true, nil // waits for its answer
		}
		return false, en.appendInquiry(ctx, q, timedOut, meta())
	case st.Terminal() && q != nil:
		cancelled, ok := q.Cancel(fmt.Sprintf("execution %s ended %s before an answer", id, st))
		if !ok {
			return true, nil
		}
		return true, en.appendInquiry(ctx, q, cancelled, meta())
	}
	return true, nil // ended before it asked anything, or in a state not ours
}

// create asks the question: InquiryCreated, into the inquiry's own stream. A schema that
// does not compile fails the execution instead, with the reason.
func (en *Engine) create(ctx context.Context, x *execution.Execution, requested eventstore.Recorded, md event.Metadata) error {
	ask, err := inquiry.ParseAsk(x.Parameters())
	var schema *answerschema.Schema
	if err == nil {
		schema, err = answerschema.Compile(ask.Schema)
	}
	if err != nil {
		return en.move(ctx, x, execution.Failed, execution.Outcome{Reason: "core.ask: " + err.Error()}, md)
	}
	asked := requested.RecordedAt
	if x.NotBefore().After(asked) {
		asked = x.NotBefore() // the ttl runs from when the question could first be seen
	}
	created := ask.Created(x.ID(), x.ParentID(), x.WorkflowTask(), schema.Kind(), x.TimeoutSeconds(), asked)
	p, err := eventstore.NewProposed(created, md)
	if err != nil {
		return bus.Permanent(err)
	}
	if _, err := en.log.Append(ctx, inquiry.StreamID(x.ID()), eventstore.NoStream, p); err != nil {
		return fmt.Errorf("create inquiry %s: %w", x.ID(), err)
	}
	en.logger.InfoContext(ctx, "inquiry created", "inquiry_id", x.ID(), "parent_id", x.ParentID(), "task", x.WorkflowTask(), "expires_at", created.ExpiresAt)
	return nil
}

func (en *Engine) move(ctx context.Context, x *execution.Execution, to execution.Status, o execution.Outcome, md event.Metadata) error {
	ch, err := x.Transition(to, o)
	if err != nil {
		return bus.Permanent(err)
	}
	p, err := eventstore.NewProposed(ch, md)
	if err != nil {
		return bus.Permanent(err)
	}
	if _, err := en.log.Append(ctx, execution.StreamID(x.ID()), eventstore.Exact(x.Version()), p); err != nil {
		return fmt.Errorf("record %s → %s of inquiry execution %s: %w", ch.From, ch.To, x.ID(), err)
	}
	return nil
}

func (en *Engine) appendInquiry(ctx context.Context, q *inquiry.Inquiry, e event.Event, md event.Metadata) error {
	p, err := eventstore.NewProposed(e, md)
	if err != nil {
		return bus.Permanent(err)
	}
	if _, err := en.log.Append(ctx, inquiry.StreamID(q.ID()), eventstore.Exact(q.Version()), p); err != nil {
		return fmt.Errorf("record %s of inquiry %s: %w", e.EventType(), q.ID(), err)
	}
	return nil
}

// execution folds the execution's stream; nil when it does not exist.
func (en *Engine) execution(ctx context.Context, id string) ([]eventstore.Recorded, *execution.Execution, error) {
	recs, events, err := en.read(ctx, execution.StreamID(id))
	if err != nil || len(recs) == 0 {
		return nil, nil, err
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return nil, nil, bus.Permanent(fmt.Errorf("execution %s: %w", id, err))
	}
	return recs, x, nil
}

// inquiry folds the inquiry's stream; nil when it does not exist.
func (en *Engine) inquiry(ctx context.Context, id string) (*inquiry.Inquiry, error) {
	recs, events, err := en.read(ctx, inquiry.StreamID(id))
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	q, err := inquiry.FromEvents(events)
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("inquiry %s: %w", id, err))
	}
	return q, nil
}

func (en *Engine) read(ctx context.Context, stream string) ([]eventstore.Recorded, []event.Event, error) {
	recs, err := en.log.ReadStream(ctx, stream)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", stream, err)
	}
	events := make([]event.Event, len(recs))
	for i, r := range recs {
		if events[i], err = r.Decode(); err != nil {
			return nil, nil, bus.Permanent(err)
		}
	}
	return recs, events, nil
}

// Sweep settles every inquiry the read model says is due: past its deadline, or with one of
// its two streams ahead of the other. The reaper calls it once a pass.
func (en *Engine) Sweep(ctx context.Context) error {
	if en.due == nil {
		return nil
	}
	ids, err := en.due(ctx, en.now(), sweepBatch)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := en.Settle(ctx, id, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepBatch bounds one pass: what is left waits a second for the next.
const sweepBatch = 500
