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
// moment) is settled by re-reading, a few times at most.
func Cancel(ctx context.Context, log Log, id, actor string) (execution.Status, error) {
	stream := execution.StreamID(id)
	for attempt := 0; ; attempt++ {
		recorded, err := log.ReadStream(ctx, stream)
		if err != nil {
			return "", fmt.Errorf("cancel %s: read: %w", id, err)
		}
		if len(recorded) == 0 {
			return "", fmt.Errorf("cancel %s: %w", id, ErrNotFound)
		}
		x, err := fold(recorded)
		if err != nil {
			return "", fmt.Errorf("cancel %s: %w", id, err)
		}
		to, ok := target(x.Status())
		switch {
		case x.Status().Terminal():
			return x.Status(), &FinishedError{ID: id, Status: x.Status()}
		case !ok:
			return x.Status(), nil // already canceling
		}
		change, err := x.Transition(to, execution.Outcome{Reason: "cancel requested by " + actor})
		if err != nil {
			return "", err
		}
		last := recorded[len(recorded)-1]
		md := last.Metadata
		md.CausationID = "cancel:" + actor
		md.Actor = actor
		p, err := eventstore.NewProposed(change, md)
		if err != nil {
			return "", err
		}
		_, err = log.Append(ctx, stream, eventstore.Exact(x.Version()), p)
		if errors.Is(err, eventstore.ErrVersionConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cancel %s: %w", id, err)
		}
		return to, nil
	}
}

// target is where a cancel takes an execution from status s.
func target(s execution.Status) (execution.Status, bool) {
	switch s {
	case execution.Running, execution.Pausing, execution.Paused:
		// A held workflow goes canceling too: the engine cancels what it still holds or
		// waits for (held runs, a pending inquiry, paused sub-workflows) and ends it.
		return execution.Canceling, true
	case execution.Requested, execution.Delayed, execution.Scheduling, execution.Scheduled, execution.Pending:
		// Nothing runs it (a pending inquiry only waits for an answer): cancelled at once.
		return execution.Cancelled, true
	}
	return "", false
}

func fold(recorded []eventstore.Recorded) (*execution.Execution, error) {
	events := make([]event.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return execution.FromEvents(events)
}
