package worker

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// job is one execution placed on this worker, with the ExecutionScheduled that placed it and
// the fold of its stream that showed it scheduled here: the run's changes start from it, and
// read the stream again only if it has moved on meanwhile (their append conflicts).
type job struct {
	executionID string
	cause       eventstore.Recorded
	placed      decide.Folded[placed]
}

// Handle takes one ExecutionScheduled. It keeps those naming this worker whose execution the
// log still shows scheduled here, queues each once, and returns: the run happens on the
// worker's own goroutines, never on the router's.
func (w *Worker) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	s, ok := payload.(*execution.ExecutionScheduled)
	if !ok || s.WorkerID != w.id {
		return nil
	}
	w.mu.Lock()
	seen, accepting := w.jobs[s.ExecutionID], w.accepting
	w.mu.Unlock()
	if seen {
		return nil // a redelivery of a job in hand
	}
	if !accepting {
		// Stopping: the worker deregisters soon, and the reaper places again what was
		// placed on it. Requeueing would only leave the message in a queue that is about to expire.
		w.log.Info("stopping: not taking an execution", "execution_id", s.ExecutionID)
		return nil
	}
	f, err := w.executions().Load(ctx, e.StreamID)
	if err != nil {
		return err
	}
	x := f.State.x
	if x.Status() != execution.Scheduled || x.WorkerID() != w.id {
		return nil // run already, cancelled, or a redelivery of an old placement
	}
	w.accept(job{executionID: x.ID(), cause: e, placed: f})
	return nil
}

// accept runs j as soon as a slot is free. A job already in hand is not taken twice.
func (w *Worker) accept(j job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.jobs[j.executionID] || !w.accepting {
		return
	}
	w.jobs[j.executionID] = true
	if w.active >= w.cfg.MaxConcurrency {
		w.queue = append(w.queue, j)
		return
	}
	w.active++
	w.runs.Add(1)
	go w.work(j)
}

// work runs j, then the queued jobs one after the other, until the queue is empty.
func (w *Worker) work(j job) {
	defer w.runs.Done()
	for {
		w.runJob(j)
		w.mu.Lock()
		if len(w.jobs) >= w.cfg.MaxConcurrency && len(w.queue) == 0 {
			// Full until now, so the scheduler sends nothing: beat without waiting for the
			// interval, so that what waits in scheduling gets the slot sooner.
			select {
			case w.beatNow <- struct{}{}:
			default:
			}
		}
		delete(w.jobs, j.executionID)
		if !w.accepting || len(w.queue) == 0 {
			w.active--
			w.mu.Unlock()
			return
		}
		j = w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
	}
}

// HandleCancel takes one ExecutionStatusChanged: a move to canceling of an execution this
// worker is running cancels its run. Only the worker's own map is consulted, so the status
// changes of everybody else's executions cost nothing. The outcome is reported by the job.
func (w *Worker) HandleCancel(_ context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	ch, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || ch.To != execution.Canceling {
		return nil
	}
	w.mu.Lock()
	cancel := w.running[ch.ExecutionID]
	w.mu.Unlock()
	if cancel != nil {
		// Only running executions go to canceling, and the worker registers a run's cancel
		// before it appends running: a run in the map is the one being cancelled.
		w.log.Info("cancelling run", "execution_id", ch.ExecutionID)
		cancel(errCancelRequested)
	}
	return nil
}

// handBack returns an execution this worker accepted but never started: scheduled →
// scheduling, so that the reaper places it on another worker (execution.PlaceAgain).
func (w *Worker) handBack(ctx context.Context, j job, why string) error {
	md := j.cause.Metadata.Caused(j.cause.ID.String())
	_, err := w.change(ctx, j.executionID, &j.placed, func(_ context.Context, f decide.Folded[placed]) (decide.Decision, error) {
		ch, ok, err := f.State.x.PlaceAgain(w.id, why)
		if err != nil || !ok {
			return decide.Decision{}, err
		}
		return decide.Decision{Events: []event.Event{ch}, Metadata: md}, nil
	})
	if err != nil {
		return fmt.Errorf("hand back execution %s: %w", j.executionID, err)
	}
	return nil
}
