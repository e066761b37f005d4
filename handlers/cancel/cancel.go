// Package cancel is the "cancel this execution" use case behind
// POST /api/v1/executions/{id}/cancel and `attune execution cancel`.
//
// An execution that has not started yet is cancelled at once: nothing runs it, so nothing else
// will report. So is an inquiry's execution waiting for its answer (pending): the inquiry
// engine then closes the inquiry (InquiryCancelled), and no answer is taken any more. A
// running (or pausing, paused) workflow moves to canceling, and the engine cancels its
// children; a running action moves to canceling; its worker kills the run and reports how it
// ended (and handlers/canceler ends it if that worker is gone).
package cancel

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// ErrNotFound is returned for an execution the log does not hold.
var ErrNotFound = errors.New("execution not found")

// FinishedError is returned for an execution that already ended: there is nothing to cancel.
type FinishedError struct {
	ID     string
	Status execution.Status
}

func (e *FinishedError) Error() string {
	return fmt.Sprintf("execution %s already ended: %s", e.ID, e.Status)
}

// Log is what cancelling needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Cancel asks for the execution to stop and returns the status it moved to. Asking again
// while it is canceling is not an error. A concurrent change (the worker reporting at that very
// moment) is settled by re-reading, a few times at most (handlers/internal/decide). Where a
// cancel takes an execution is the domain's decision (execution.CancelTarget).
func Cancel(ctx context.Context, log Log, id, actor string) (execution.Status, error) {
	var status execution.Status
	loop := decide.Executions(log)
	loop.Attempts = attempts
	_, err := loop.Run(ctx, execution.StreamID(id), func(_ context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		x := f.State
		status = x.Status()
		if status.Terminal() {
			return decide.Decision{}, &FinishedError{ID: id, Status: status}
		}
		change, ok, err := x.Cancel("cancel requested by " + actor)
		if err != nil || !ok {
			return decide.Decision{}, err // already canceling
		}
		status = change.To
		md := f.Last.Metadata
		md.CausationID = "cancel:" + actor
		md.Actor = actor
		return decide.Decision{Events: []event.Event{change}, Metadata: md}, nil
	})
	var finished *FinishedError
	switch {
	case errors.As(err, &finished):
		return finished.Status, err
	case errors.Is(err, decide.ErrNoStream):
		return "", fmt.Errorf("cancel %s: %w", id, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("cancel %s: %w", id, err)
	}
	return status, nil
}

// attempts is how many times a cancel decides before it gives up on a stream that keeps
// moving: as many as before the shared path.
const attempts = 6
