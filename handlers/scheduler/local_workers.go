package scheduler

import (
	"context"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/heartbeat"
)

// OnlyWorkers restricts the workers a scheduler sees to those ids names (asked at each
// placement). With the in-process bus a scheduler can reach only the workers of its own
// process: any other live worker in the heartbeat table (a second in-process server on the
// same database) would never hear of work placed on it. Passing the local ids makes that
// impossible by construction, whatever the single-process guard says.
func OnlyWorkers(w Workers, ids func() []string) Workers {
	o := onlyWorkers{all: w, ids: ids}
	if r, ok := w.(Refreshing); ok {
		return onlyRefreshing{onlyWorkers: o, refresh: r.Refresh}
	}
	return o
}

// onlyRefreshing is onlyWorkers over workers that can be read afresh (heartbeat.Cache).
type onlyRefreshing struct {
	onlyWorkers
	refresh func(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error)
}

var _ Refreshing = onlyRefreshing{}

type onlyWorkers struct {
	all Workers
	ids func() []string
}

func (o onlyWorkers) Live(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error) {
	return o.only(o.all.Live(ctx, ttl))
}

// Refresh reads the table now.
func (o onlyRefreshing) Refresh(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error) {
	return o.only(o.refresh(ctx, ttl))
}

func (o onlyWorkers) only(live []heartbeat.Worker, err error) ([]heartbeat.Worker, error) {
	if err != nil {
		return nil, err
	}
	ids := o.ids()
	return slices.DeleteFunc(live, func(w heartbeat.Worker) bool { return !slices.Contains(ids, w.ID) }), nil
}
