// Package canceler settles cancellations that no worker will ever finish. A cancel moves a
// running execution to canceling; normally its worker then kills the run and reports how it
// ended. If that worker has already left (deregistered, or never registered), nobody will
// report, and the execution would stay canceling forever. The canceler ends it as abandoned.
package canceler

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// Name is the handler's persisted identifier: it names its queue
// (ExecutionStatusChanged.canceler). Renaming it is a migration.
const Name = "canceler"

// Register subscribes the handler to the status changes of executions to canceling, the
// only ones it acts on.
func Register(r *bus.Router, log Log) {
	r.AddStatusHandler(Name, Keys, New(log).Handle)
}

// Keys bind the handler's queue: the moves to canceling.
var Keys = bus.StatusKeys(execution.Canceling)

// Log is what the handler needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Handler holds the handler's dependencies; Handle is its bus.HandlerFunc.
type Handler struct {
	log Log
}

// New returns the handler.
func New(log Log) *Handler {
	if log == nil {
		panic("canceler: nil log") // wiring error
	}
	return &Handler{log: log}
}

// Handle reacts to one ExecutionStatusChanged. It decides from the log, not from the message:
// the message may be old or delivered twice, and every outcome but one is "nothing to do".
func (h *Handler) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err) // no retry makes a malformed event readable
	}
	change, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || change.To != execution.Canceling {
		return nil
	}
	// The expected version makes the decision once: if the worker's report (or another
	// delivery of this message) lands first, the append conflicts, and the decision taken
	// again on the stream finds the execution settled.
	_, err = decide.Executions(h.log).Run(ctx, e.StreamID, func(ctx context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		x := f.State
		// Settled already (the worker reported, or this is a redelivery), or run by the engine
		// rather than a worker (a workflow, whose cancel cascades through its children).
		if x.Status() != execution.Canceling || x.WorkerID() == "" {
			return decide.Decision{}, nil
		}
		why, left, err := h.workerLeft(ctx, x.WorkerID())
		if err != nil || !left {
			return decide.Decision{}, err // a live worker will report how the run ended
		}
		abandoned, err := x.Transition(execution.Abandoned, execution.Outcome{
			Reason:   fmt.Sprintf("cancel requested after worker %s left (%s)", x.WorkerID(), why),
			WorkerID: x.WorkerID(),
		})
		if err != nil {
			return decide.Decision{}, err
		}
		return decide.Decision{Events: []event.Event{abandoned}, Metadata: e.Metadata.Caused(e.ID.String())}, nil
	})
	if err != nil {
		return fmt.Errorf("abandon execution %s: %w", change.ExecutionID, err)
	}
	return nil
}

// workerLeft reports whether the worker can no longer report on its runs (domain/worker
// Lifecycle): its last lifecycle event is a deregistration, or it never registered.
func (h *Handler) workerLeft(ctx context.Context, workerID string) (string, bool, error) {
	stream := worker.StreamID(workerID)
	recorded, err := h.log.ReadStream(ctx, stream)
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", stream, err)
	}
	events, err := decide.Decode(recorded)
	if err != nil {
		return "", false, bus.Permanent(err)
	}
	why, left := worker.FoldLifecycle(events).Left()
	return why, left, nil
}
