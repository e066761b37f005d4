package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/oklog/ulid/v2"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

// fold reads and folds an execution's stream.
func fold(ctx context.Context, log Log, stream string) (*execution.Execution, error) {
	recorded, err := log.ReadStream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	events := make([]event.Event, len(recorded))
	for i, r := range recorded {
		if events[i], err = r.Decode(); err != nil {
			return nil, permanent(err)
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return nil, permanent(fmt.Errorf("stream %s: %w", stream, err))
	}
	return x, nil
}

// holds reports whether stream holds the event with id: whether an append whose answer was
// lost committed after all.
func holds(ctx context.Context, log Log, stream string, id ulid.ULID) (bool, error) {
	recorded, err := log.ReadStream(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", stream, err)
	}
	for _, r := range recorded {
		if r.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// permanent marks an error no retry can fix (a corrupt stream): the bus's marker, so that a
// handler returning it sends its message to the poison topic at once.
func permanent(err error) error { return bus.Permanent(err) }

// persist runs fn until it succeeds. A version conflict is retried at once (fn decides
// again on the stream as it is now); another failure (the database away) after a growing
// pause, because a job that gives up leaves its execution scheduled or running until the
// reaper abandons it. It gives up on a permanent error or when ctx ends.
func (w *Worker) persist(ctx context.Context, fn func(context.Context) error) error {
	const maxConflicts = 100 // each one means another writer made progress on the stream
	delay, conflicts := 100*time.Millisecond, 0
	for {
		err := fn(ctx)
		switch {
		case err == nil:
			w.writes.Recovered()
			return nil
		case errors.Is(err, bus.ErrPermanent) || ctx.Err() != nil:
			return err
		case errors.Is(err, eventstore.ErrVersionConflict) && conflicts < maxConflicts:
			conflicts++
			continue
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
