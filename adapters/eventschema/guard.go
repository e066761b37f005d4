package eventschema

import (
	"context"
	"errors"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Guard wraps a store so that Append validates every proposed event against its schema first
// and writes nothing when any fails; reads and subscriptions pass through. The error matches
// eventstore.ErrInvalidAppend and, with errors.As, the first *InvalidEventError.
//
// The wrapper implements eventstore.Store only: optional interfaces of the wrapped store are
// not visible through it.
func Guard(store eventstore.Store, v *Validator) eventstore.Store {
	if store == nil || v == nil {
		panic("eventschema.Guard: nil store or validator") // wiring error
	}
	return guarded{Store: store, v: v}
}

type guarded struct {
	eventstore.Store
	v *Validator
}

var _ eventstore.Store = guarded{}

// Append implements eventstore.Store.
func (g guarded) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	var errs []error
	for i, e := range events {
		if err := g.v.Validate(e.Type, e.SchemaVersion, e.Data); err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append %d events to %s: %w: %w",
			len(events), stream, eventstore.ErrInvalidAppend, errors.Join(errs...))
	}
	return g.Store.Append(ctx, stream, expected, events...)
}
