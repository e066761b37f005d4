package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
		return err
	}
	if f.def == nil || f.parent.Status() != execution.Canceling {
		en.keep(f)
		return nil // not a workflow, or settled meanwhile
	}
	actor := cmp.Or(e.Metadata.Actor, "workflow "+f.parent.ID())
	for _, r := range f.st.Pending() {
		if err := en.cancelRun(ctx, e, f, r, actor); err != nil {
			return err
		}
	}
	d := en.decision(f)
	if err := d.endIfIdle(); err != nil {
		return err
	}
	return en.commit(ctx, e, d)
}

// cancelRun cancels the child execution of one run. A child that has already ended needs
// nothing: its end, delivered to Advance, is recorded like any other.
func (en *Engine) cancelRun(ctx context.Context, cause eventstore.Recorded, f *flow, r workflow.Run, actor string) error {
	for range 2 {
		_, err := cancel.Cancel(ctx, en.log, r.ChildExecutionID, actor)
		var finished *cancel.FinishedError
		switch {
		case err == nil, errors.As(err, &finished):
			return nil
		case !errors.Is(err, cancel.ErrNotFound):
			return fmt.Errorf("cancel task %s of workflow %s: %w", r.Task, f.parent.ID(), err)
		}
		requested, err := en.requestCancelled(ctx, cause, f, r, actor)
		if err != nil || requested {
			return err
		}
		// The child's request landed meanwhile (the decision that scheduled it was still
		// requesting its children): cancel it like any other.
	}
	return fmt.Errorf("cancel task %s of workflow %s: its child %s neither exists nor can be created", r.Task, f.parent.ID(), r.ChildExecutionID)
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
func (d *decision) stopped(r workflow.Run, child *execution.Execution, result json.RawMessage) error {
	if err := d.record(r, child, result); err != nil {
		return err
	}
	return d.endIfIdle()
}
