package reaper

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
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

func (r *Reaper) cancelIfPausedTooLong(ctx context.Context, id string) error {
	stream := execution.StreamID(id)
	x, last, err := r.fold(ctx, stream)
	if err != nil {
		return err
	}
	if x.Status() != execution.Paused {
		return nil
	}
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	var since eventstore.Recorded
	for _, rec := range recorded {
		if rec.Type != (execution.ExecutionStatusChanged{}).EventType() {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			return err
		}
		if ch, ok := e.(*execution.ExecutionStatusChanged); ok && ch.To == execution.Paused {
			since = rec
		}
	}
	if since.StreamID == "" || r.cfg.Now().Sub(since.RecordedAt) < r.cfg.MaxPaused {
		return nil
	}
	ch, err := x.Transition(execution.Canceling, execution.Outcome{
		Reason: fmt.Sprintf("paused for longer than %s (the deadline of a paused workflow, --max-paused)", r.cfg.MaxPaused)})
	if err != nil {
		return err
	}
	p, err := eventstore.NewProposed(ch, last.Metadata.Caused(since.ID.String()))
	if err != nil {
		return err
	}
	if _, err := r.cfg.Log.Append(ctx, stream, eventstore.Exact(x.Version()), p); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil // resumed or cancelled meanwhile; the next pass looks again
		}
		return fmt.Errorf("cancel paused workflow %s: %w", id, err)
	}
	r.log.Warn("paused workflow cancelled at its deadline", "execution_id", id, "max_paused", r.cfg.MaxPaused)
	return nil
}
