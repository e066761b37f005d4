package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/worker"
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
	stream := worker.StreamID(workerID)
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if l := lifecycleOf(recorded); !l.registered {
		return nil // deregistered already (it stopped, or an earlier pass got here)
	}
	last := recorded[len(recorded)-1]
	p, err := eventstore.NewProposed(worker.WorkerDeregistered{WorkerID: workerID, Reason: reason, Lost: true},
		last.Metadata.Caused(last.ID.String()))
	if err != nil {
		return err
	}
	if _, err := r.cfg.Log.Append(ctx, stream, eventstore.Exact(int64(len(recorded))), p); err != nil {
		return fmt.Errorf("declare worker %s lost: %w", workerID, err)
	}
	r.log.Warn("worker lost", "worker_id", workerID, "reason", reason)
	return nil
}

// lifecycle is a worker's state as its stream tells it.
type lifecycle struct {
	registered bool
	why        string              // why it left; empty while registered
	cause      eventstore.Recorded // the event it left with (zero if it never registered)
}

func lifecycleOf(recorded []eventstore.Recorded) lifecycle {
	l := lifecycle{why: "never registered"}
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			continue // a foreign or corrupt event is not a lifecycle change
		}
		switch e := e.(type) {
		case *worker.WorkerRegistered:
			l = lifecycle{registered: true}
		case *worker.WorkerDeregistered:
			l = lifecycle{why: e.Reason, cause: rec}
			if e.Lost {
				l.why = "lost: " + e.Reason
			}
		}
	}
	return l
}
