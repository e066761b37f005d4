package projections

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Rebuild replays the named projection from the start of the log into scratch tables beside
// the live ones, then swaps them in, under the projection's pause lock only for the last
// catch-up and the swap: readers see the old tables until the new ones replace them at once,
// and a live runner waits meanwhile, then resumes from the rebuilt checkpoint. A rebuild that
// fails — an event the read model refuses, a *StallError naming it — leaves the live tables
// serving as they were.
func Rebuild(ctx context.Context, store eventstore.Store, target Target, name string) error {
	p, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("rebuild projection %q: no such projection", name)
	}
	err := target.Beside(ctx, p.Name, func(ctx context.Context, scratch Target) error {
		_, err := CatchUp(ctx, store, scratch, p, eventstore.Start)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild %s (the live tables are unchanged): %w", p.Name, err)
	}
	return nil
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
