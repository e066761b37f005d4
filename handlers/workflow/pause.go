package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/pause"
)

// The persisted names of the handlers that carry an operator's pause and resume down nested
// workflows (queues WorkflowPaused.workflow_pause, WorkflowResumed.workflow_resume).
const (
	PauseName  = "workflow_pause"
	ResumeName = "workflow_resume"
)

// waits reports whether a child in status s waits rather than runs: an inquiry pending, a
// sub-workflow paused.
func waits(s execution.Status) bool { return s == execution.Pending || s == execution.Paused }

// childWaits reacts to a child moving into or out of a waiting status (pending, paused): it
// records WorkflowTaskWaiting or WorkflowTaskContinued in the parent, which holds the
// workflow or lifts that hold, and steers the parent's status. It decides from the child's
// status as the log holds it now, so a late or repeated message records nothing twice.
func (en *Engine) childWaits(ctx context.Context, e eventstore.Recorded, change *execution.ExecutionStatusChanged) error {
	if parent, known := change.Parent(); known && parent == "" {
		return nil // the change says it is not a task: no need to read the stream to know
	}
	childEvents, err := en.read(ctx, e.StreamID)
	if err != nil {
		return err
	}
	child, err := execution.FromEvents(childEvents)
	if err != nil {
		return bus.Permanent(fmt.Errorf("stream %s: %w", e.StreamID, err))
	}
	if child.ParentID() == "" || child.Status().Terminal() {
		return nil // not a task; or ended, which Advance records
	}
	stream := execution.StreamID(child.ParentID())
	unlock, err := en.flows.lock(ctx, stream)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := en.flow(ctx, stream)
	if err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	if f.def == nil || !advancing(f.parent.Status()) {
		en.keep(f)
		return nil
	}
	r, ok := f.st.Run(child.ID())
	if !ok || r.Status != "" || r.Held {
		en.keep(f)
		return nil
	}
	d := en.decision(ctx, f, e.Position)
	switch {
	case waits(child.Status()) && r.Waiting != child.Status():
		err = d.add(workflow.WorkflowTaskWaiting{
			ExecutionID: f.parent.ID(), Task: r.Task, Activation: r.Activation, Item: r.Item, Attempt: r.Attempt,
			ChildExecutionID: r.ChildExecutionID, Status: child.Status(),
		})
	case !waits(child.Status()) && r.Waiting != "":
		err = d.add(workflow.WorkflowTaskContinued{
			ExecutionID: f.parent.ID(), Task: r.Task, Activation: r.Activation, Item: r.Item, Attempt: r.Attempt,
			ChildExecutionID: r.ChildExecutionID,
		})
	}
	if err == nil {
		err = d.steer()
	}
	if err := d.settle(err); err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	return en.failOn(ctx, e, stream, en.commit(ctx, e, d))
}

// Paused reacts to WorkflowPaused: an operator's pause reaches down nested workflows, so
// every sub-workflow in flight is paused too (each then pauses its own). Redelivered, it
// pauses what is paused already, which changes nothing.
func (en *Engine) Paused(ctx context.Context, e eventstore.Recorded) error {
	f, ok, err := en.held(ctx, e)
	if err != nil || !ok || f.st.PausedBy() == "" {
		return err // resumed since, or not a workflow
	}
	actor := "workflow " + f.parent.ID()
	var errs []error
	for _, r := range f.st.InFlight() {
		if !en.isWorkflow(r.Action) {
			continue
		}
		_, err := pause.Pause(ctx, en.log, r.ChildExecutionID, actor)
		if err != nil && !refused(err) && !errors.Is(err, pause.ErrNotFound) {
			errs = append(errs, fmt.Errorf("pause sub-workflow %s of task %s: %w", r.ChildExecutionID, r.Task, err))
		}
	}
	return errors.Join(errs...)
}

// Resumed reacts to WorkflowResumed: the paused sub-workflows (and those still pausing) are
// resumed, the children of the runs released are requested, and a workflow left with
// nothing to do ends.
func (en *Engine) Resumed(ctx context.Context, e eventstore.Recorded) error {
	f, ok, err := en.held(ctx, e)
	if err != nil || !ok || f.st.PausedBy() != "" {
		return err // paused again since, or not a workflow
	}
	actor := "workflow " + f.parent.ID()
	var errs []error
	for _, r := range f.st.Pending() {
		if r.Held || !en.isWorkflow(r.Action) {
			continue
		}
		_, err := pause.Resume(ctx, en.log, r.ChildExecutionID, actor)
		if err != nil && !refused(err) && !errors.Is(err, pause.ErrNotFound) {
			errs = append(errs, fmt.Errorf("resume sub-workflow %s of task %s: %w", r.ChildExecutionID, r.Task, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	stream := execution.StreamID(f.parent.ID())
	unlock, err := en.flows.lock(ctx, stream)
	if err != nil {
		return err
	}
	defer unlock()
	if f, err = en.flow(ctx, stream); err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	if f.def == nil || !advancing(f.parent.Status()) {
		en.keep(f)
		return nil
	}
	if err := en.request(ctx, f, e); err != nil { // what the resume released, if nothing else holds it
		return en.failOn(ctx, e, stream, err)
	}
	d := en.decision(ctx, f, e.Position)
	err = d.endIfIdle()
	if err == nil {
		err = d.steer()
	}
	if err := d.settle(err); err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	return en.failOn(ctx, e, stream, en.commit(ctx, e, d))
}

// held folds the stream of a WorkflowPaused or WorkflowResumed for the cascade; ok is false
// when there is nothing to carry down (not a workflow, or over).
func (en *Engine) held(ctx context.Context, e eventstore.Recorded) (*flow, bool, error) {
	events, err := en.read(ctx, e.StreamID)
	if err != nil {
		return nil, false, err
	}
	f, err := fold(events)
	if err != nil {
		return nil, false, bus.Permanent(fmt.Errorf("stream %s: %w", e.StreamID, err))
	}
	if f.def == nil || !advancing(f.parent.Status()) {
		return f, false, nil
	}
	return f, true, nil
}

func (en *Engine) isWorkflow(ref string) bool {
	a, ok := en.catalog.Action(ref)
	return ok && a.RunnerType == pack.RunnerWorkflow
}

// refused reports a pause or resume the child's state does not call for (it is not running,
// not paused, or waits for an answer): nothing to carry down there.
func refused(err error) bool {
	var r *workflow.Refusal
	return errors.As(err, &r)
}
