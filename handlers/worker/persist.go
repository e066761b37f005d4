package worker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// placed is an execution folded from its stream, with the ids of its events: whether an
// append whose answer was lost committed after all is then known without reading again.
type placed struct {
	x   *execution.Execution
	ids []ulid.ULID
}

func foldPlaced(stream string, recorded []eventstore.Recorded) (placed, error) {
	x, err := decide.FoldExecution(stream, recorded)
	if err != nil {
		return placed{}, err
	}
	ids := make([]ulid.ULID, len(recorded))
	for i, r := range recorded {
		ids[i] = r.ID
	}
	return placed{x: x, ids: ids}, nil
}

// holds reports whether the stream as folded holds the event with id.
func (p placed) holds(id ulid.ULID) bool { return slices.Contains(p.ids, id) }

// maxConflicts bounds the decisions of one change of an execution's stream: each conflict
// means another writer made progress on the stream.
const maxConflicts = 100

// executions is the worker's path to decide on an execution's stream (handlers/internal/decide).
func (w *Worker) executions() decide.Loop[placed] {
	return decide.Loop[placed]{Log: w.cfg.Log, Fold: foldPlaced, Attempts: maxConflicts}
}

// change decides on the execution's stream and appends, starting from known when it is set
// (no read: a job carries the fold its ExecutionScheduled was accepted on, and each change
// leaves the fold the next one starts from); a conflict reads the stream again. It is
// persistent like persist: a job that gives up leaves its execution to the reaper.
func (w *Worker) change(ctx context.Context, executionID string, known *decide.Folded[placed], d decide.Decider[placed]) (decide.Result, error) {
	var res decide.Result
	stream := execution.StreamID(executionID)
	err := w.persist(ctx, func(ctx context.Context) (err error) {
		if known != nil {
			f := *known
			known = nil // after a failure, the stream is read again
			res, err = w.executions().RunFrom(ctx, stream, f, d)
			return err
		}
		res, err = w.executions().Run(ctx, stream, d)
		return err
	})
	return res, err
}

// permanent marks an error no retry can fix (a corrupt stream): the bus's marker, so that a
// handler returning it sends its message to the poison topic at once.
func permanent(err error) error { return bus.Permanent(err) }

// persist runs fn until it succeeds. A version conflict has been decided again at once by
// the shared path already (maxConflicts times); it and any other failure (the database
// away) are retried after a growing pause, because a job that gives up leaves its execution
// scheduled or running until the reaper abandons it. It gives up on a permanent error or
// when ctx ends.
func (w *Worker) persist(ctx context.Context, fn func(context.Context) error) error {
	delay := 100 * time.Millisecond
	for {
		err := fn(ctx)
		switch {
		case err == nil:
			w.writes.Recovered()
			return nil
		case errors.Is(err, bus.ErrPermanent) || ctx.Err() != nil:
			return err
		}
		w.writes.Failed(err) // once per outage, however many jobs wait on it
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}
