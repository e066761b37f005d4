package reaper

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// cancelPaused cancels every workflow paused for longer than MaxPaused: a paused workflow
// waits for a person (a resume, an inquiry's answer), and nothing waits for ever. Paused →
// canceling lets the engine cancel what it holds or waits for (held tasks, a pending
// inquiry, paused sub-workflows) and end it cancelled, the reason naming the deadline. The
// read model's updated_at only picks the candidates; the time it entered paused is read
// from its stream.
func (r *Reaper) cancelPaused(ctx context.Context) error {
	paused, err := r.list(ctx, execution.Paused)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	var errs []error
	for _, x := range paused {
		if now.Sub(x.UpdatedAt) < r.cfg.MaxPaused {
			continue
		}
		errs = append(errs, r.cancelIfPausedTooLong(ctx, x.ID))
	}
	return errors.Join(errs...)
}

// paused is a workflow execution folded, with the event that paused it last.
type paused struct {
	x     *execution.Execution
	since eventstore.Recorded // the latest move to paused; zero if none
}

func foldPaused(stream string, recorded []eventstore.Recorded) (paused, error) {
	x, err := decide.FoldExecution(stream, recorded)
	if err != nil {
		return paused{}, err
	}
	p := paused{x: x}
	for _, rec := range recorded {
		if rec.Type != (execution.ExecutionStatusChanged{}).EventType() {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			return paused{}, err
		}
		if ch, ok := e.(*execution.ExecutionStatusChanged); ok && ch.To == execution.Paused {
			p.since = rec
		}
	}
	return p, nil
}

// cancelIfPausedTooLong reads the workflow's stream once: its status, and when it entered
// paused.
func (r *Reaper) cancelIfPausedTooLong(ctx context.Context, id string) error {
	loop := decide.Loop[paused]{Log: r.cfg.Log, Fold: foldPaused}
	res, err := loop.Run(ctx, execution.StreamID(id), func(_ context.Context, f decide.Folded[paused]) (decide.Decision, error) {
		x, since := f.State.x, f.State.since
		if x.Status() != execution.Paused || since.StreamID == "" || r.cfg.Now().Sub(since.RecordedAt) < r.cfg.MaxPaused {
			return decide.Decision{}, nil
		}
		ch, err := x.Transition(execution.Canceling, execution.Outcome{
			Reason: fmt.Sprintf("paused for longer than %s (the deadline of a paused workflow, --max-paused)", r.cfg.MaxPaused)})
		if err != nil {
			return decide.Decision{}, err
		}
		return decide.Decision{Events: []event.Event{ch}, Metadata: f.Last.Metadata.Caused(since.ID.String())}, nil
	})
	switch {
	case errors.Is(err, eventstore.ErrVersionConflict):
		return nil // resumed or cancelled meanwhile, again and again; the next pass looks again
	case err != nil:
		return fmt.Errorf("cancel paused workflow %s: %w", id, err)
	case res.Appended:
		r.log.Warn("paused workflow cancelled at its deadline", "execution_id", id, "max_paused", r.cfg.MaxPaused)
	}
	return nil
}
