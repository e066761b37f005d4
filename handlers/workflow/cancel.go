package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/cancel"
)

// cancelRuns reacts to a workflow parent moving to canceling (a workflow has no worker to
// kill its run: the engine is its runner). Nothing more is dispatched from then on (Advance
// only records the ends of the runs in flight), every run in flight is cancelled like any
// execution, which cascades down nested workflows since a child workflow is itself a parent,
// and once no run is left in flight the parent ends cancelled. Redelivered, it cancels again
// what is still canceling, which changes nothing.
func (en *Engine) cancelRuns(ctx context.Context, e eventstore.Recorded) error {
	unlock, err := en.flows.lock(ctx, e.StreamID)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := en.flow(ctx, e.StreamID)
	if err != nil {
		return en.failOn(ctx, e, e.StreamID, err)
	}
	if f.def == nil || f.parent.Status() != execution.Canceling {
		en.keep(f)
		return nil // not a workflow, or settled meanwhile
	}
	actor := cmp.Or(e.Metadata.Actor, "workflow "+f.parent.ID())
	d := en.decision(ctx, f, e.Position)
	for _, r := range f.st.Pending() {
		ended, err := en.cancelRun(ctx, e, f, r, actor)
		if err != nil {
			return en.failOn(ctx, e, e.StreamID, err)
		}
		if ended == nil {
			continue
		}
		// The child ended but its end is not recorded here (its message is still on its
		// way, or was lost): record it now, so the cancel does not wait on it for ever.
		childEvents, err := en.read(ctx, execution.StreamID(r.ChildExecutionID))
		if err != nil {
			return err
		}
		if err := d.record(r, ended.Status(), terminalResult(childEvents)); err != nil {
			return en.failOn(ctx, e, e.StreamID, err)
		}
	}
	if err := d.endIfIdle(); err != nil {
		return en.failOn(ctx, e, e.StreamID, err)
	}
	return en.failOn(ctx, e, e.StreamID, en.commit(ctx, e, d))
}

// cancelRun cancels the child execution of one run. It returns the child when it has
// already ended, for the caller to record its end.
func (en *Engine) cancelRun(ctx context.Context, cause eventstore.Recorded, f *flow, r workflow.Run, actor string) (*execution.Execution, error) {
	for range 2 {
		_, err := cancel.Cancel(ctx, en.log, r.ChildExecutionID, actor)
		var finished *cancel.FinishedError
		switch {
		case err == nil:
			return nil, nil
		case errors.As(err, &finished):
			childEvents, err := en.read(ctx, execution.StreamID(r.ChildExecutionID))
			if err != nil {
				return nil, err
			}
			child, err := execution.FromEvents(childEvents)
			if err != nil {
				return nil, bus.Permanent(fmt.Errorf("child %s of task %s: %w", r.ChildExecutionID, r.Task, err))
			}
			return child, nil
		case !errors.Is(err, cancel.ErrNotFound):
			return nil, fmt.Errorf("cancel task %s of workflow %s: %w", r.Task, f.parent.ID(), err)
		}
		requested, err := en.requestCancelled(ctx, cause, f, r, actor)
		if err != nil || requested {
			return nil, err
		}
		// The child's request landed meanwhile (the decision that scheduled it was still
		// requesting its children): cancel it like any other.
	}
	return nil, bus.Permanent(fmt.Errorf("cancel task %s of workflow %s: its child %s neither exists nor can be created", r.Task, f.parent.ID(), r.ChildExecutionID))
}

// requestCancelled writes the child of a run that was scheduled but never requested (a
// crash between the decision and the request, or a request still on its way) as requested
// and cancelled at once: its run then ends like every other, and a request that comes late
// finds the stream taken and does nothing. It reports false if the stream exists after all.
func (en *Engine) requestCancelled(ctx context.Context, cause eventstore.Recorded, f *flow, r workflow.Run, actor string) (bool, error) {
	action, _ := en.catalog.Action(r.Action) // unknown now: the runner type stays empty, nothing runs it anyway
	req := execution.ExecutionRequested{
		ExecutionID:  r.ChildExecutionID,
		Action:       r.Action,
		RunnerType:   string(action.RunnerType),
		Parameters:   f.inputs[r.ChildExecutionID],
		ParentID:     f.parent.ID(),
		WorkflowTask: r.Task,
	}
	x, err := execution.FromEvents([]event.Event{req})
	if err != nil {
		return false, fmt.Errorf("request child %s: %w", r.ChildExecutionID, err)
	}
	cancelled, err := x.Transition(execution.Cancelled, execution.Outcome{Reason: "cancel requested by " + actor + " before the run was requested"})
	if err != nil {
		return false, err
	}
	md := cause.Metadata.Caused(cause.ID.String())
	proposed := make([]eventstore.Proposed, 0, 2)
	for _, ev := range []event.Event{req, cancelled} {
		p, err := eventstore.NewProposed(ev, md)
		if err != nil {
			return false, err
		}
		proposed = append(proposed, p)
	}
	stream := execution.StreamID(r.ChildExecutionID)
	_, err = en.log.Append(ctx, stream, eventstore.NoStream, proposed...)
	if errors.Is(err, eventstore.ErrVersionConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record the cancelled child %s of task %s: %w", r.ChildExecutionID, r.Task, err)
	}
	return true, nil
}

// stopped records the end of a run while the workflow is canceling: no retry, no
// transition; only the end of the workflow once nothing is left in flight.
func (d *decision) stopped(r workflow.Run, child execution.Status, result json.RawMessage) error {
	if err := d.record(r, child, result); err != nil {
		return err
	}
	return d.endIfIdle()
}
