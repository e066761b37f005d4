// Package generictrigger fires StackStorm's core.st2.generic triggers from the log, so that
// rules written for StackStorm run unchanged:
//
//   - core.st2.generic.actiontrigger when an execution ends ("when any action fails, open a
//     ticket"), from ExecutionStatusChanged;
//   - core.st2.generic.inquiry when a question is asked ("tell the team an approval
//     waits"), from InquiryCreated.
//
// Each event's id derives from what caused it, and it is appended with NoStream: a
// redelivery finds the event there and fires nothing twice. With no enabled rule on the
// trigger nothing is appended, so an engine that does not use it pays one catalogue lookup
// per cause, not an event.
package generictrigger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/ident"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

// The handlers' persisted identifiers: they name their queues
// (ExecutionStatusChanged.actiontrigger, InquiryCreated.inquirytrigger). Renaming one is a
// migration.
const (
	Name        = "actiontrigger"
	InquiryName = "inquirytrigger"
)

// The refs of the triggers fired here.
const (
	ActionTrigger  = "core.st2.generic.actiontrigger"
	InquiryTrigger = "core.st2.generic.inquiry"
)

// Log is what the handler needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Catalog is what the handler needs of projections/registry.
type Catalog interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	EnabledRulesForAt(trigger string, at eventstore.Position) []pack.Rule
}

// Config wires the handler.
type Config struct {
	Log     Log
	Catalog Catalog
	// WaitTimeout bounds the wait for the catalogue to reach the delivered change; 10s if 0.
	WaitTimeout time.Duration
}

// Handler fires the trigger; Handle is its bus.HandlerFunc.
type Handler struct{ cfg Config }

// New returns the handler. It panics on a missing dependency (a wiring error).
func New(cfg Config) *Handler {
	if cfg.Log == nil || cfg.Catalog == nil {
		panic("actiontrigger: nil log or catalogue")
	}
	cfg.WaitTimeout = cmp.Or(cfg.WaitTimeout, 10*time.Second)
	return &Handler{cfg: cfg}
}

// Keys bind the handler's queue: every ending.
var Keys = bus.StatusKeys(execution.Completed, execution.Failed, execution.Timeout, execution.Cancelled, execution.Abandoned)

// Register subscribes the handlers: to the endings of executions and to new inquiries.
func Register(r *bus.Router, cfg Config) {
	h := New(cfg)
	r.AddStatusHandler(Name, Keys, h.Handle)
	r.AddHandler(InquiryName, inquiry.InquiryCreated{}.EventType(), h.Inquiry)
}

// Payload is the trigger's payload, in StackStorm's field names.
type Payload struct {
	ExecutionID    string          `json:"execution_id"`
	Status         string          `json:"status"`
	StartTimestamp string          `json:"start_timestamp"`
	ActionName     string          `json:"action_name"`
	ActionRef      string          `json:"action_ref"`
	RunnerRef      string          `json:"runner_ref"`
	Parameters     json.RawMessage `json:"parameters"`
	Result         json.RawMessage `json:"result"`
}

// StackStormStatus names an ending as StackStorm does, so that criteria written for it
// (`trigger.status: {type: equals, pattern: succeeded}`) hold here.
func StackStormStatus(s execution.Status) string {
	switch s {
	case execution.Completed:
		return "succeeded"
	case execution.Cancelled:
		return "canceled"
	}
	return string(s)
}

// Handle reacts to one ExecutionStatusChanged.
func (h *Handler) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	change, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || !change.To.Terminal() {
		return nil
	}
	ruled, err := h.ruled(ctx, e, ActionTrigger)
	if err != nil || !ruled {
		return err
	}
	fired, err := h.event(ctx, e, change)
	if err != nil {
		return fmt.Errorf("%s for %s: %w", ActionTrigger, change.ExecutionID, err)
	}
	return h.fire(ctx, e, fired)
}

// Inquiry reacts to one InquiryCreated: StackStorm's core.st2.generic.inquiry, whose payload
// is the inquiry's id and route (the id answers it: `attune inquiry respond ID`).
func (h *Handler) Inquiry(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	created, ok := payload.(*inquiry.InquiryCreated)
	if !ok {
		return nil
	}
	ruled, err := h.ruled(ctx, e, InquiryTrigger)
	if err != nil || !ruled {
		return err
	}
	body, err := json.Marshal(map[string]string{"id": created.InquiryID, "route": created.Route})
	if err != nil {
		return bus.Permanent(err)
	}
	return h.fire(ctx, e, trigger.EventFired{
		EventID:    ident.At(e.RecordedAt, InquiryName, created.InquiryID).String(),
		Trigger:    InquiryTrigger,
		Payload:    body,
		Source:     trigger.Engine,
		OccurredAt: e.RecordedAt,
	})
}

// ruled reports whether an enabled rule was on the trigger when the delivered event was
// recorded (the catalogue caught up with it first).
func (h *Handler) ruled(ctx context.Context, e eventstore.Recorded, ref string) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WaitTimeout)
	err := h.cfg.Catalog.WaitFor(wctx, e.Position)
	cancel()
	if err != nil {
		return false, fmt.Errorf("%s for %s: wait for the catalogue: %w", ref, e.StreamID, err)
	}
	return len(h.cfg.Catalog.EnabledRulesForAt(ref, e.Position)) > 0, nil
}

// fire appends the trigger event caused by e in its own stream, once.
func (h *Handler) fire(ctx context.Context, e eventstore.Recorded, fired trigger.EventFired) error {
	proposed, err := eventstore.NewProposed(fired, e.Metadata.Caused(e.ID.String()))
	if err != nil {
		return bus.Permanent(fmt.Errorf("%s for %s: %w", fired.Trigger, e.StreamID, err))
	}
	// The envelope keeps NewProposed's fresh id: the deterministic EventID appended twice
	// fails on the stream's version, never on a duplicate envelope id (as sensor.Fire).
	_, err = h.cfg.Log.Append(ctx, trigger.StreamID(fired.EventID), eventstore.NoStream, proposed)
	if errors.Is(err, eventstore.ErrVersionConflict) {
		return nil // fired already: a redelivery
	}
	if err != nil {
		return fmt.Errorf("%s for %s: append: %w", fired.Trigger, e.StreamID, err)
	}
	return nil
}

// event builds the trigger event from the execution's stream: its action, runner and
// parameters (secret ones masked: a trigger payload is written to the log in clear and
// rendered into other actions' parameters) and when it was requested.
func (h *Handler) event(ctx context.Context, e eventstore.Recorded, change *execution.ExecutionStatusChanged) (trigger.EventFired, error) {
	recs, err := h.cfg.Log.ReadStream(ctx, e.StreamID)
	if err != nil {
		return trigger.EventFired{}, fmt.Errorf("read %s: %w", e.StreamID, err)
	}
	var req *execution.ExecutionRequested
	var requestedAt time.Time
	for _, r := range recs {
		if r.Type != (execution.ExecutionRequested{}).EventType() {
			continue
		}
		d, err := r.Decode()
		if err != nil {
			return trigger.EventFired{}, bus.Permanent(fmt.Errorf("decode %s: %w", e.StreamID, err))
		}
		req, _ = d.(*execution.ExecutionRequested)
		requestedAt = r.RecordedAt
		break
	}
	if req == nil {
		return trigger.EventFired{}, bus.Permanent(fmt.Errorf("%s has no ExecutionRequested", e.StreamID))
	}
	params := secret.RedactParams(req.Parameters)
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	result := change.Result
	if len(result) == 0 {
		result = json.RawMessage(`null`)
	}
	_, name, _ := strings.Cut(req.Action, ".")
	body, err := json.Marshal(Payload{
		ExecutionID:    change.ExecutionID,
		Status:         StackStormStatus(change.To),
		StartTimestamp: requestedAt.UTC().Format(time.RFC3339Nano),
		ActionName:     name,
		ActionRef:      req.Action,
		RunnerRef:      req.RunnerType,
		Parameters:     params,
		Result:         result,
	})
	if err != nil {
		return trigger.EventFired{}, bus.Permanent(err)
	}
	return trigger.EventFired{
		EventID:    ident.At(e.RecordedAt, Name, change.ExecutionID).String(),
		Trigger:    ActionTrigger,
		Payload:    body,
		Source:     trigger.Engine,
		OccurredAt: e.RecordedAt,
	}, nil
}
