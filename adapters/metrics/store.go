package metrics

import (
	"context"
	"errors"

	"github.com/attune-go/attune/adapters/eventstore"
)

var _ eventstore.Store = (*countingStore)(nil)

// Store returns s counting what is appended through it: events by type once the append
// succeeded, and version conflicts. Reads pass straight through. Methods beyond the port
// (pgstore's Head, say) are not on the result: take them from s.
func (m *Metrics) Store(s eventstore.Store) eventstore.Store {
	if s == nil {
		panic("metrics: nil store") // wiring error
	}
	return &countingStore{Store: s, m: m}
}

type countingStore struct {
	eventstore.Store
	m *Metrics
}

func (c *countingStore) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	res, err := c.Store.Append(ctx, stream, expected, events...)
	if err != nil {
		var conflict *eventstore.VersionConflictError
		if errors.As(err, &conflict) {
			c.m.conflicts.Inc()
		}
		return res, err
	}
	for _, e := range events {
		c.m.appended.WithLabelValues(e.Type).Inc()
	}
	return res, nil
}

func (c *countingStore) AppendMany(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.StreamResult, error) {
	results, err := c.Store.AppendMany(ctx, appends)
	if err != nil {
		return results, err
	}
	for i, r := range results {
		var conflict *eventstore.VersionConflictError
		switch {
		case errors.As(r.Err, &conflict):
			c.m.conflicts.Inc()
		case r.Err == nil && i < len(appends):
			for _, e := range appends[i].Events {
				c.m.appended.WithLabelValues(e.Type).Inc()
			}
		}
	}
	return results, nil
}
