package reaper

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/internal/decide"
	"github.com/attune-go/attune/projections/executions"
)

// settleOrphans settles the executions in the hands of workers that have left, and those a
// live worker has let wait past a deadline. Of a worker that left, what was scheduled there
// never started and is placed again (scheduled → scheduling, then the scheduler's Retry);
// what was running or canceling may have run and is abandoned (execution.WorkerLeft). Of a
// live worker, a placement it has not started within ScheduledDeadline while it holds fewer
// executions than the log gave it (it never received some: a lost message, a worker that
// restarted under the same id) is placed again, and a cancel it has not answered within
// CancelDeadline ends abandoned.
func (r *Reaper) settleOrphans(ctx context.Context) error {
	active, err := r.list(ctx, execution.Scheduled, execution.Running, execution.Canceling)
	if err != nil {
		return err
	}
	byWorker := map[string][]executions.Execution{}
	for _, x := range active {
		if x.Worker != "" {
			byWorker[x.Worker] = append(byWorker[x.Worker], x)
		}
	}
	var live map[string]heartbeat.Worker // read once, when a live worker's deadlines are due
	var errs []error
	for workerID, xs := range byWorker {
		stream := worker.StreamID(workerID)
		recorded, err := r.cfg.Log.ReadStream(ctx, stream)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", stream, err))
			continue
		}
		l := lifecycleOf(recorded)
		if l.Registered() {
			if !r.overdue(xs) {
				continue // it will report on them itself
			}
			if live == nil {
				if live, err = r.liveWorkers(ctx); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			errs = append(errs, r.chase(ctx, workerID, xs, live))
			continue
		}
		// A worker cut off for longer than the TTL may still beat once it is back; its row
		// must go so that its next beat tells it to register again, or the scheduler would
		// keep choosing it while this loop takes back what it gets.
		if err := r.cfg.Heartbeats.Remove(ctx, workerID); err != nil {
			errs = append(errs, err)
		}
		for _, x := range xs {
			if err := r.workerLeft(ctx, x.ID, workerID, l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// workerLeft settles one execution of a worker that has left, as the domain decides, and
// places it again at once if it never started.
func (r *Reaper) workerLeft(ctx context.Context, executionID, workerID string, l lifecycle) error {
	return r.settle(ctx, executionID, l.cause, func(x *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
		return x.WorkerLeft(workerID, l.why())
	})
}

// settle folds the execution, lets decide choose its change, and appends it with the
// version it read (handlers/internal/decide: a conflict is decided again on the stream as it
// is then); cause, when set, is the event the change follows from (else the execution's
// latest). An execution sent back to scheduling is placed again at once.
func (r *Reaper) settle(ctx context.Context, executionID string, cause eventstore.Recorded,
	decideChange func(*execution.Execution) (execution.ExecutionStatusChanged, bool, error)) error {
	var ch execution.ExecutionStatusChanged
	res, err := decide.Executions(r.cfg.Log).Run(ctx, execution.StreamID(executionID), func(_ context.Context, f decide.Folded[*execution.Execution]) (decide.Decision, error) {
		var ok bool
		var err error
		ch, ok, err = decideChange(f.State)
		if err != nil || !ok {
			return decide.Decision{}, err // settled or placed elsewhere meanwhile: the read model has not caught up
		}
		c := cause
		if c.StreamID == "" {
			c = f.Last
		}
		return decide.Decision{Events: []event.Event{ch}, Metadata: f.Last.Metadata.Caused(c.ID.String())}, nil
	})
	switch {
	case errors.Is(err, eventstore.ErrVersionConflict):
		return nil // its worker's report or a cancel keeps getting in first; the next pass looks again
	case err != nil:
		return fmt.Errorf("settle execution %s: %w", executionID, err)
	case !res.Appended:
		return nil
	}
	if ch.To != execution.Scheduling {
		r.log.Warn("execution abandoned", "execution_id", executionID, "worker_id", ch.WorkerID, "reason", ch.Reason)
		return nil
	}
	r.log.Warn("execution placed again", "execution_id", executionID, "worker_id", ch.WorkerID, "reason", ch.Reason)
	_, err = r.cfg.Scheduler.Retry(ctx, executionID, r.cfg.Now(), r.cfg.SchedulingDeadline)
	if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
		return fmt.Errorf("place execution %s again: %w", executionID, err)
	}
	return nil
}

// overdue reports whether a live worker's executions include one past its deadline.
func (r *Reaper) overdue(xs []executions.Execution) bool {
	now := r.cfg.Now()
	for _, x := range xs {
		switch {
		case x.Status == execution.Scheduled && now.Sub(x.UpdatedAt) >= r.cfg.ScheduledDeadline:
			return true
		case x.Status == execution.Canceling && now.Sub(x.UpdatedAt) >= r.cfg.CancelDeadline:
			return true
		}
	}
	return false
}

func (r *Reaper) liveWorkers(ctx context.Context) (map[string]heartbeat.Worker, error) {
	ws, err := r.cfg.Heartbeats.Live(ctx, r.cfg.TTL)
	if err != nil {
		return nil, fmt.Errorf("list live workers: %w", err)
	}
	live := make(map[string]heartbeat.Worker, len(ws))
	for _, w := range ws {
		live[w.ID] = w
	}
	return live, nil
}

// chase enforces the deadlines of a registered worker's executions. A worker without a
// fresh beat is left alone: the TTL declares it lost sooner than any deadline here.
func (r *Reaper) chase(ctx context.Context, workerID string, xs []executions.Execution, live map[string]heartbeat.Worker) error {
	hb, ok := live[workerID]
	if !ok {
		return nil
	}
	now := r.cfg.Now()
	// A worker beats the number of executions it holds, queued or running. Fewer than the
	// log placed on it means some never reached it. Which ones cannot be told, so every
	// placement past the deadline goes back: one the worker does hold is then simply not
	// started by it (it starts a run only by appending scheduled → running at the version
	// it read, on itself), so a wrong guess costs a placement, never a second run.
	holdsAll := hb.Running >= len(xs)
	var errs []error
	for _, x := range xs {
		age := now.Sub(x.UpdatedAt)
		switch {
		case x.Status == execution.Scheduled && age >= r.cfg.ScheduledDeadline && !holdsAll:
			why := fmt.Sprintf("worker %s did not start it within %s, and holds %d of the %d placed on it",
				workerID, r.cfg.ScheduledDeadline, hb.Running, len(xs))
			errs = append(errs, r.settle(ctx, x.ID, eventstore.Recorded{}, func(cur *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
				return cur.PlaceAgain(workerID, why)
			}))
		case x.Status == execution.Canceling && age >= r.cfg.CancelDeadline:
			why := fmt.Sprintf("worker %s did not end the run within %s of the cancel", workerID, r.cfg.CancelDeadline)
			errs = append(errs, r.settle(ctx, x.ID, eventstore.Recorded{}, func(cur *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
				if cur.Status() != execution.Canceling || cur.WorkerID() != workerID {
					return execution.ExecutionStatusChanged{}, false, nil
				}
				ch, err := cur.Transition(execution.Abandoned, execution.Outcome{Reason: why, WorkerID: workerID})
				return ch, err == nil, err
			}))
		}
	}
	return errors.Join(errs...)
}
