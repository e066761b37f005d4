package workers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/projections/internal/memtx"
	"github.com/attune-go/attune/projections/workers"
)

func TestApplyFollowsEachWorkersLife(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	reg := func(id string, runtimes ...string) *worker.WorkerRegistered {
		return &worker.WorkerRegistered{WorkerID: id, Name: "w", Host: "h1", Capabilities: worker.Capabilities{Runtimes: runtimes}, MaxConcurrency: 4, Version: "1.2.3"}
	}
	var log []eventstore.Recorded
	for i, e := range []event.Event{
		reg("w1", "shell", "python"),
		reg("w2", "node"),
		&worker.WorkerDeregistered{WorkerID: "w2", Reason: "no heartbeat for 30s", Lost: true},
		&worker.WorkerDeregistered{WorkerID: "w1", Reason: "shutdown"},
		reg("w1", "shell"), // back under its id: a new life
	} {
		p, err := eventstore.NewProposed(e, event.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, eventstore.Recorded{ID: p.ID, Type: p.Type, Data: p.Data, StreamVersion: int64(i + 1),
			RecordedAt: t0.Add(time.Duration(i+1) * time.Minute), Position: eventstore.Position{Minor: uint64(i + 1)}})
	}
	at := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return fmt.Sprintf("+%dm", int(tm.Sub(t0).Minutes()))
	}
	want := `w1 registered runtimes=[shell] registered=+5m deregistered=- reason= lost=false
w2 deregistered runtimes=[node] registered=+2m deregistered=+3m reason=no heartbeat for 30s lost=true`
	for _, size := range []int{1, len(log)} {
		m := memtx.New()
		for b := range slices.Chunk(log, size) {
			if err := workers.Apply(context.Background(), m, b); err != nil {
				t.Fatal(err)
			}
		}
		var lines []string
		for _, id := range []string{"w1", "w2"} {
			w := m.Workers[id]
			lines = append(lines, fmt.Sprintf("%s %s runtimes=%v registered=%s deregistered=%s reason=%s lost=%v",
				w.ID, w.Status, w.Runtimes, at(w.RegisteredAt), at(w.DeregisteredAt), w.Reason, w.Lost))
		}
		if got := strings.Join(lines, "\n"); got != want || len(m.Workers) != 2 {
			t.Errorf("batches of %d:\n got:\n%s\nwant:\n%s", size, got, want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	t.Parallel()
	if err := (workers.Filter{Status: "alive", Limit: -3}).Validate(); err == nil || !strings.Contains(err.Error(), "alive") || !strings.Contains(err.Error(), "limit -3") {
		t.Errorf("filter with a bad status and limit: %v", err)
	}
	if err := (workers.Filter{Status: workers.Deregistered}).Validate(); err != nil {
		t.Errorf("a valid filter: %v", err)
	}
}
