package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/executions"
)

// retryWaiting gives every execution waiting for a worker another chance, or fails it at
// the deadline, and releases the delayed ones whose time has come (the scheduler leaves
// those a policy delayed to the policy).
func (r *Reaper) retryWaiting(ctx context.Context) error {
	waiting, err := r.list(ctx, execution.Requested, execution.Delayed, execution.Scheduling)
	if err != nil {
		return err
	}
	var errs []error
	for _, x := range waiting {
		if pack.RunnerType(x.RunnerType) == pack.RunnerWorkflow {
			errs = append(errs, r.startWorkflow(ctx, x))
			continue
		}
		if x.Action == inquiry.AskAction {
			errs = append(errs, r.ask(ctx, x))
			continue
		}
		if x.Status == execution.Requested && r.cfg.Now().Sub(x.CreatedAt) < r.cfg.SchedulingDeadline {
			// Retry would leave it (its ExecutionRequested is presumably on its way to the
			// scheduler) after reading its stream: under a backlog of requests that was a read
			// per waiting execution per pass. CreatedAt is the ExecutionRequested's recorded_at,
			// the time Retry counts from; a row lagging behind its stream is looked at next pass.
			continue
		}
		_, err := r.cfg.Scheduler.Retry(ctx, x.ID, r.cfg.Now(), r.cfg.SchedulingDeadline)
		if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// workflowStartTimeout bounds one hand-over of a workflow to the engine.
const workflowStartTimeout = 30 * time.Second

// startWorkflow hands a workflow execution still requested after the scheduling deadline to
// the workflow engine again, as the bus would have.
func (r *Reaper) startWorkflow(ctx context.Context, x executions.Execution) error {
	if r.cfg.WorkflowStart == nil || x.Status != execution.Requested || r.cfg.Now().Sub(x.CreatedAt) < r.cfg.SchedulingDeadline {
		return nil
	}
	stream := execution.StreamID(x.ID)
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recorded) == 0 || recorded[0].Type != (execution.ExecutionRequested{}).EventType() {
		return fmt.Errorf("%s does not open with ExecutionRequested", stream)
	}
	r.log.Warn("workflow still requested after the deadline; starting it again", "execution_id", x.ID, "deadline", r.cfg.SchedulingDeadline)
	// Bounded: the engine waits for the catalogue, and a pass must not hang on one workflow.
	ctx, cancel := context.WithTimeout(ctx, workflowStartTimeout)
	defer cancel()
	if err := r.cfg.WorkflowStart(ctx, recorded[0]); err != nil {
		return fmt.Errorf("start workflow %s again: %w", x.ID, err)
	}
	return nil
}

// ask hands an execution of core.ask still requested to the inquiry engine, which asks its
// question (idempotent: a redelivery of its ExecutionRequested would do the same) once its
// not_before, if any, has passed.
func (r *Reaper) ask(ctx context.Context, x executions.Execution) error {
	if r.cfg.Inquiries == nil || x.Status != execution.Requested {
		return nil
	}
	if err := r.cfg.Inquiries.Settle(ctx, x.ID, nil); err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
		return fmt.Errorf("ask inquiry %s: %w", x.ID, err)
	}
	return nil
}

// sweepInquiries enforces the inquiries' deadlines.
func (r *Reaper) sweepInquiries(ctx context.Context) error {
	if r.cfg.Inquiries == nil {
		return nil
	}
	if err := r.cfg.Inquiries.Sweep(ctx); err != nil {
		return fmt.Errorf("sweep inquiries: %w", err)
	}
	return nil
}
