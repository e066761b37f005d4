package worker_test

import (
	"testing"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/worker"
)

func TestTheLastLifecycleEventSaysWhetherAWorkerHasLeft(t *testing.T) {
	t.Parallel()
	reg := &worker.WorkerRegistered{WorkerID: "w1"}
	stopped := &worker.WorkerDeregistered{WorkerID: "w1", Reason: "stopped"}
	lost := &worker.WorkerDeregistered{WorkerID: "w1", Reason: "no heartbeat for 6s", Lost: true}
	for _, tc := range []struct {
		name   string
		events []event.Event
		left   bool
		why    string
	}{
		{"never registered", nil, true, "never registered"},
		{"registered", []event.Event{reg}, false, ""},
		{"stopped", []event.Event{reg, stopped}, true, "stopped"},
		{"lost", []event.Event{reg, lost}, true, "lost: no heartbeat for 6s"},
		{"back after being lost", []event.Event{reg, lost, reg}, false, ""},
		{"by value", []event.Event{worker.WorkerRegistered{WorkerID: "w1"}, *stopped}, true, "stopped"},
	} {
		l := worker.FoldLifecycle(tc.events)
		why, left := l.Left()
		if left != tc.left || why != tc.why || l.Registered() == tc.left {
			t.Errorf("%s: Left() = %q, %v; Registered() = %v; want %q, %v", tc.name, why, left, l.Registered(), tc.why, tc.left)
		}
	}
}
