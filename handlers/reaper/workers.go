package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// declareLost deregisters the workers that stopped beating and removes their rows.
func (r *Reaper) declareLost(ctx context.Context) error {
	lost, err := r.cfg.Heartbeats.Lost(ctx, r.cfg.TTL)
	if err != nil {
		r.blindUntil = r.cfg.Now().Add(r.cfg.TTL)
		return err
	}
	if r.cfg.Now().Before(r.blindUntil) {
		return nil // beats may have been lost to an outage: give every worker a TTL to beat again
	}
	var errs []error
	for _, w := range lost {
		reason := fmt.Sprintf("no heartbeat for %s", max(w.Age.Round(time.Second), time.Second))
		if err := r.deregister(ctx, w.ID, reason); err != nil {
			errs = append(errs, err)
			continue
		}
		// Only once the log says the worker is gone: a pass that fails before this point
		// finds the worker lost again next time.
		if err := r.cfg.Heartbeats.Remove(ctx, w.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reaper) deregister(ctx context.Context, workerID, reason string) error {
	loop := decide.Loop[worker.Lifecycle]{Log: r.cfg.Log, Fold: func(_ string, recorded []eventstore.Recorded) (worker.Lifecycle, error) {
		return lifecycleOf(recorded).Lifecycle, nil
	}}
	res, err := loop.Run(ctx, worker.StreamID(workerID), func(_ context.Context, f decide.Folded[worker.Lifecycle]) (decide.Decision, error) {
		if !f.State.Registered() {
			return decide.Decision{}, nil // deregistered already (it stopped, or an earlier pass got here)
		}
		return decide.Decision{
			Events:   []event.Event{worker.WorkerDeregistered{WorkerID: workerID, Reason: reason, Lost: true}},
			Metadata: f.Last.Metadata.Caused(f.Last.ID.String()),
		}, nil
	})
	if err != nil {
		return fmt.Errorf("declare worker %s lost: %w", workerID, err)
	}
	if res.Appended {
		r.log.Warn("worker lost", "worker_id", workerID, "reason", reason)
	}
	return nil
}

// lifecycle is a worker's state as its stream tells it (domain/worker), with the event it
// left with: the cause of what the reaper settles for it.
type lifecycle struct {
	worker.Lifecycle
	cause eventstore.Recorded // the event it left with (zero if it never registered, or is registered)
}

// why is why the worker can no longer report on its runs.
func (l lifecycle) why() string {
	why, _ := l.Left()
	return why
}

func lifecycleOf(recorded []eventstore.Recorded) lifecycle {
	var l lifecycle
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			continue // a foreign or corrupt event is not a lifecycle change
		}
		l.Apply(e)
		switch e.(type) {
		case *worker.WorkerRegistered:
			l.cause = eventstore.Recorded{}
		case *worker.WorkerDeregistered:
			l.cause = rec
		}
	}
	return l
}
