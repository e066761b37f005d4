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
	return decide(ctx, log, id, actor, "pause", func(s *workflow.State, x *execution.Execution) ([]event.Event, error) {
		return s.Pause(x, "paused by "+actor)
	})
}

// Resume resumes the workflow run of execution id and returns the status it is in then. A
// refusal is a *workflow.Refusal (not paused, or only waiting for an inquiry's answer).
func Resume(ctx context.Context, log Log, id, actor string) (execution.Status, error) {
	return decide(ctx, log, id, actor, "resume", func(s *workflow.State, x *execution.Execution) ([]event.Event, error) {
		return s.Resume(x, "resumed by "+actor)
	})
}

func decide(ctx context.Context, log Log, id, actor, what string, d func(*workflow.State, *execution.Execution) ([]event.Event, error)) (execution.Status, error) {
	stream := execution.StreamID(id)
	for attempt := 0; ; attempt++ {
		recorded, err := log.ReadStream(ctx, stream)
		if err != nil {
			return "", fmt.Errorf("%s %s: read: %w", what, id, err)
		}
		if len(recorded) == 0 {
			return "", fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
		}
		events := make([]event.Event, 0, len(recorded))
		for _, r := range recorded {
			e, err := r.Decode()
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", what, id, err)
			}
			events = append(events, e)
		}
		x, err := execution.FromEvents(events)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", what, id, err)
		}
		st, err := workflow.FromEvents(events)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", what, id, err)
		}
		decided, err := d(st, x)
		if err != nil {
			return x.Status(), err
		}
		to := x.Status()
		if len(decided) == 0 {
			return to, nil
		}
		last := recorded[len(recorded)-1]
		md := last.Metadata
		md.CausationID = what + ":" + actor
		md.Actor = actor
		proposed := make([]eventstore.Proposed, 0, len(decided))
		for _, e := range decided {
			if ch, ok := e.(execution.ExecutionStatusChanged); ok {
				to = ch.To
			}
			p, err := eventstore.NewProposed(e, md)
			if err != nil {
				return "", err
			}
			proposed = append(proposed, p)
		}
		_, err = log.Append(ctx, stream, eventstore.Exact(x.Version()), proposed...)
		if errors.Is(err, eventstore.ErrVersionConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", what, id, err)
		}
		return to, nil
	}
}
