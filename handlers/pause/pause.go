// Package pause is the "pause this workflow" and "resume it" use case behind
// POST /api/v1/executions/{id}/pause|resume and `attune execution pause|resume`.
//
// Pausing records WorkflowPaused and moves the workflow to pausing (a task still runs) or
// paused, as domain/workflow decides from the fold; from then on the engine dispatches
// nothing new, and it pauses the running sub-workflows too (handlers/workflow). Resuming
// records WorkflowResumed and moves it back to running unless a child still waits; the
// engine then resumes the paused sub-workflows and requests the tasks held meanwhile.
package pause

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// ErrNotFound is returned for an execution the log does not hold.
var ErrNotFound = errors.New("execution not found")

// Log is what pausing needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Pause pauses the workflow run of execution id and returns the status it is in then.
// Pausing a workflow paused by an operator already changes nothing. A refusal is a
// *workflow.Refusal (not a workflow, not running).
func Pause(ctx context.Context, log Log, id, actor string) (execution.Status, error) {
	return hold(ctx, log, id, actor, "pause", func(s *workflow.State, x *execution.Execution) ([]event.Event, error) {
		return s.Pause(x, "paused by "+actor)
	})
}

// Resume resumes the workflow run of execution id and returns the status it is in then. A
// refusal is a *workflow.Refusal (not paused, or only waiting for an inquiry's answer).
func Resume(ctx context.Context, log Log, id, actor string) (execution.Status, error) {
	return hold(ctx, log, id, actor, "resume", func(s *workflow.State, x *execution.Execution) ([]event.Event, error) {
		return s.Resume(x, "resumed by "+actor)
	})
}

// held is a workflow execution folded: the execution and its workflow state.
type held struct {
	x  *execution.Execution
	st *workflow.State
}

func foldHeld(stream string, recorded []eventstore.Recorded) (held, error) {
	if len(recorded) == 0 {
		return held{}, fmt.Errorf("%s: %w", stream, decide.ErrNoStream)
	}
	events, err := decide.Decode(recorded)
	if err != nil {
		return held{}, err
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return held{}, err
	}
	st, err := workflow.FromEvents(events)
	if err != nil {
		return held{}, err
	}
	return held{x: x, st: st}, nil
}

// attempts is how many times a pause or resume decides before it gives up on a stream that
// keeps moving.
const attempts = 6

func hold(ctx context.Context, log Log, id, actor, what string, d func(*workflow.State, *execution.Execution) ([]event.Event, error)) (execution.Status, error) {
	var to execution.Status
	var refused error
	loop := decide.Loop[held]{Log: log, Fold: foldHeld, Attempts: attempts}
	_, err := loop.Run(ctx, execution.StreamID(id), func(_ context.Context, f decide.Folded[held]) (decide.Decision, error) {
		to, refused = f.State.x.Status(), nil
		decided, err := d(f.State.st, f.State.x)
		if err != nil {
			refused = err
			return decide.Decision{}, err
		}
		for _, e := range decided {
			if ch, ok := e.(execution.ExecutionStatusChanged); ok {
				to = ch.To
			}
		}
		md := f.Last.Metadata
		md.CausationID = what + ":" + actor
		md.Actor = actor
		return decide.Decision{Events: decided, Metadata: md}, nil
	})
	switch {
	case refused != nil:
		return to, refused
	case errors.Is(err, decide.ErrNoStream):
		return "", fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("%s %s: %w", what, id, err)
	}
	return to, nil
}
