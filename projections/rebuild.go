package projections

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Rebuild empties the named projection and replays it from the start of the log to its
// head, under the projection's pause lock: a live runner waits meanwhile, then resumes from
// the rebuilt checkpoint. Readers see the tables fill up again while it runs.
func Rebuild(ctx context.Context, store eventstore.Store, target Target, name string) error {
	p, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("rebuild projection %q: no such projection", name)
	}
	return target.Pause(ctx, p.Name, func(ctx context.Context, t Target) error {
		if err := t.Reset(ctx, p.Name); err != nil {
			return fmt.Errorf("rebuild %s: %w", p.Name, err)
		}
		if _, err := CatchUp(ctx, store, t, p, eventstore.Start); err != nil {
			return fmt.Errorf("rebuild %s: %w", p.Name, err)
		}
		return nil
	})
}

// Replay builds projections (every one when none is given) into target up to until
// (inclusive; zero: the head). Point it at a fresh schema to see the read models as they were
// at a past position, for audits; a schema replayed earlier continues from its checkpoints.
func Replay(ctx context.Context, store eventstore.Store, target Target, until eventstore.Position, ps ...Projection) error {
	if len(ps) == 0 {
		ps = All()
	}
	for _, p := range ps {
		err := target.Pause(ctx, p.Name, func(ctx context.Context, t Target) error {
			_, err := CatchUp(ctx, store, t, p, until)
			return err
		})
		if err != nil {
			return fmt.Errorf("replay to %s: %w", until, err)
		}
	}
	return nil
}
