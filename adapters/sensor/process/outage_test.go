package process_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/sensor/process"
	"github.com/attune-go/attune/domain/pack"
)

// flaky is a store whose first appends fail as during a database outage.
type flaky struct {
	eventstore.Store
	failures atomic.Int32
}

func (f *flaky) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if f.failures.Add(-1) >= 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: connection refused: %w", stream, pgstore.ErrUnavailable)
	}
	return f.Store.Append(ctx, stream, expected, events...)
}

func TestWhatASensorSawDuringAnOutageIsRecordedOnceTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	var store *flaky
	b := setup(t, func(c *process.Config) {
		store = &flaky{Store: c.Store}
		store.failures.Store(4) // an outage spanning several appends
		c.Store = store
	})
	sn := b.sensorScript(t, "examples.watcher", pack.RunnerPython, pythonSensor, "examples.ping")
	b.run(t, sn)

	waitFor(t, "3 events", 30*time.Second, func() bool { return len(firedEvents(t, b.store)) >= 3 })
	if got := len(firedEvents(t, b.store)); got != 3 {
		t.Errorf("%d events recorded, want the sensor's 3, none lost to the outage", got)
	}
	if lost := b.logs.matching("sensor event not recorded"); len(lost) > 0 {
		t.Errorf("events dropped during the outage: %v", lost)
	}
}
