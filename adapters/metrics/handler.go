package metrics

import (
	"context"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
)

// Handler wraps a bus handler to time every attempt and count the failed ones, under the
// handler's name. It has the shape of bus.Config.Instrument, which applies it to every
// handler of a bus.
func (m *Metrics) Handler(name string, h bus.HandlerFunc) bus.HandlerFunc {
	observe := m.duration.WithLabelValues(name)
	// Created now, so the series exists at 0 and a rate over it works before the first error.
	failed := m.failures.WithLabelValues(name)
	return func(ctx context.Context, e eventstore.Recorded) (err error) {
		start := time.Now()
		defer func() {
			observe.Observe(time.Since(start).Seconds())
			if p := recover(); p != nil {
				failed.Inc()
				panic(p) // the router's recovery deals with it; this only counts it
			}
			if err != nil {
				failed.Inc()
			}
		}()
		return h(ctx, e)
	}
}

// Delivered returns the counter of the messages the bus hands to one handler. It has the
// shape of bus.Config.Deliveries; the series exists at 0 from the moment the handler is added.
func (m *Metrics) Delivered(name string) func() {
	return m.delivered.WithLabelValues(name).Inc
}
