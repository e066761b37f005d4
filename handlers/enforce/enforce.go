// Package enforce processes enforcements: each EnforcementCreated requests at most one
// execution of the rule's action, with the action's defaults applied and its parameters
// validated, then records the enforcement as processed. The execution's id derives from the
// enforcement's and is appended with NoStream, so a redelivered EnforcementCreated requests
// nothing twice; parameters that break the action's schema fail the execution in the very
// append that requests it, so it never reaches a worker.
package enforce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/internal/actionparams"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// Name is the handler's persisted identifier: it names its queue (EnforcementCreated.enforce).
const Name = "enforce"

// Register subscribes the handler to created enforcements.
func Register(r *bus.Router, cfg Config) {
	r.AddHandler(Name, enforcement.EnforcementCreated{}.EventType(), New(cfg).Handle)
}

// Log is what the handler needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is what the handler needs of projections/registry.
type Catalog interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Action(ref string) (pack.Action, bool)
}

// Config wires the handler.
type Config struct {
	Log     Log
	Catalog Catalog
	// Box opens sealed parameters to validate them and seals the secret ones again.
	Box *secret.Box
	// WaitTimeout bounds the wait for the catalogue to reach the enforcement; the message is
	// retried after it. Default 30s.
	WaitTimeout time.Duration
}

// Handler processes enforcements; Handle is its bus.HandlerFunc.
type Handler struct {
	cfg Config
}

// New returns the handler. It panics on a missing dependency (a wiring error).
func New(cfg Config) *Handler {
	switch {
	case cfg.Log == nil:
		panic("enforce: nil Log")
	case cfg.Catalog == nil:
		panic("enforce: nil Catalog")
	case cfg.Box == nil:
		panic("enforce: nil secret Box")
	}
	cfg.WaitTimeout = cmp.Or(cfg.WaitTimeout, 30*time.Second)
	return &Handler{cfg: cfg}
}

// Handle reacts to one EnforcementCreated.
func (h *Handler) Handle(ctx context.Context, e eventstore.Recorded) error {
	if e.Type != (enforcement.EnforcementCreated{}).EventType() {
		return nil
	}
	st, err := h.enforcements().Load(ctx, e.StreamID)
	if err != nil || st.State.Done() {
		return err // processed by an earlier delivery, or skipped when it was created
	}
	c := st.State.Created()
	created := &c
	enfID, err := ulid.Parse(created.EnforcementID)
	if err != nil {
		return bus.Permanent(fmt.Errorf("enforcement in %s: id %q: %w", e.StreamID, created.EnforcementID, err))
	}
	execID := execution.IDForEnforcement(enfID).String()
	md := e.Metadata.Caused(e.ID.String())

	existing, err := h.cfg.Log.ReadStream(ctx, execution.StreamID(execID))
	if err != nil {
		return fmt.Errorf("read execution %s: %w", execID, err)
	}
	if len(existing) == 0 {
		// Not requested yet (a delivery that requested it and failed before recording the
		// enforcement as processed leaves it, and goes straight to that step).
		wctx, cancel := context.WithTimeout(ctx, h.cfg.WaitTimeout)
		err := h.cfg.Catalog.WaitFor(wctx, e.Position)
		cancel()
		if err != nil {
			return fmt.Errorf("process enforcement %s: %w", created.EnforcementID, err)
		}
		action, ok := h.cfg.Catalog.Action(created.Action)
		if !ok {
			reason := fmt.Sprintf("action %s is not registered (retired, or its pack was never loaded)", created.Action)
			return h.finish(ctx, e.StreamID, st, enforcement.EnforcementSkipped{EnforcementID: created.EnforcementID, Reason: reason}, md)
		}
		if err := h.request(ctx, execID, created, action, md); err != nil {
			return err
		}
	}
	return h.finish(ctx, e.StreamID, st, enforcement.EnforcementProcessed{EnforcementID: created.EnforcementID, ExecutionID: execID}, md)
}

// request appends ExecutionRequested, and the failure it ends in when the parameters break
// the action's schema or the rule could not render them, to the execution's stream in one
// append.
func (h *Handler) request(ctx context.Context, execID string, c *enforcement.EnforcementCreated, action pack.Action, md event.Metadata) error {
	var reason string
	params := c.Parameters
	if c.Failure != "" {
		// The rule could not render the parameters: the execution is requested failed with
		// the rule's reason, so the run ends visibly.
		reason = c.Failure
	} else {
		prepared, invalid, err := actionparams.Prepare(h.cfg.Box, action.Ref, action.Parameters, c.Parameters)
		if err != nil {
			return bus.Permanent(fmt.Errorf("process enforcement %s: %w", c.EnforcementID, err))
		}
		params = prepared
		if invalid != nil {
			reason = "invalid parameters: " + invalid.Error()
		}
	}
	requested := execution.ExecutionRequested{
		ExecutionID:   execID,
		Action:        action.Ref,
		RunnerType:    string(action.RunnerType),
		Parameters:    params,
		EnforcementID: c.EnforcementID,
		Rule:          c.Rule,
		Trigger:       c.Trigger,
		EventID:       c.EventID,
	}
	events := []event.Event{requested}
	if reason != "" {
		x, err := execution.FromEvents([]event.Event{requested})
		if err != nil {
			return bus.Permanent(err)
		}
		failed, err := x.Transition(execution.Failed, execution.Outcome{Reason: reason})
		if err != nil {
			return bus.Permanent(err)
		}
		events = append(events, failed)
	}
	proposed, err := propose(md, events...)
	if err != nil {
		return err
	}
	if _, err := h.cfg.Log.Append(ctx, execution.StreamID(execID), eventstore.NoStream, proposed...); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil // requested by a concurrent delivery
		}
		return fmt.Errorf("request execution %s: %w", execID, err)
	}
	return nil
}

// finish records the enforcement's outcome, from the fold Handle read. A conflict means
// another delivery got there first: decided again, it finds the outcome recorded (nothing to
// do) or records it on the stream as it is now.
func (h *Handler) finish(ctx context.Context, stream string, known decide.Folded[*enforcement.State], outcome event.Event, md event.Metadata) error {
	_, err := h.enforcements().RunFrom(ctx, stream, known, func(_ context.Context, f decide.Folded[*enforcement.State]) (decide.Decision, error) {
		if f.State.Done() {
			return decide.Decision{}, nil
		}
		return decide.Decision{Events: []event.Event{outcome}, Metadata: md}, nil
	})
	if err != nil {
		return fmt.Errorf("record %s on %s: %w", outcome.EventType(), stream, err)
	}
	return nil
}

// enforcements is the path to decide on an enforcement's stream (domain/enforcement State).
func (h *Handler) enforcements() decide.Loop[*enforcement.State] {
	return decide.Loop[*enforcement.State]{Log: h.cfg.Log, Fold: func(_ string, recorded []eventstore.Recorded) (*enforcement.State, error) {
		events, err := decide.Decode(recorded)
		if err != nil {
			return nil, err
		}
		return enforcement.FromEvents(events)
	}}
}

func propose(md event.Metadata, events ...event.Event) ([]eventstore.Proposed, error) {
	out := make([]eventstore.Proposed, len(events))
	for i, e := range events {
		p, err := eventstore.NewProposed(e, md)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
