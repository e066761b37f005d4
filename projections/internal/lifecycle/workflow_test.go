package lifecycle_test

import (
	"context"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/projections/internal/lifecycle"
)

// TestWorkflowStreamsAreOnesTheEngineCouldWrite folds every workflow stream of a generated
// log with the engine's own domain fold, which refuses any stream no engine could have
// written, and checks the log holds what the read model tests need: with-items, retries,
// nested workflows, failures.
func TestWorkflowStreamsAreOnesTheEngineCouldWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	if _, err := lifecycle.Write(ctx, store, lifecycle.Config{Executions: 300, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	log, err := store.ReadAll(ctx, eventstore.Start, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string][]event.Event{}
	var order []string
	for _, r := range log {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := streams[r.StreamID]; !ok {
			order = append(order, r.StreamID)
		}
		streams[r.StreamID] = append(streams[r.StreamID], e)
	}
	seen := map[string]int{}
	for _, id := range order {
		es := streams[id]
		if !strings.HasPrefix(id, "execution-") || !isWorkflow(es) {
			continue
		}
		s, err := workflow.FromEvents(es)
		if err != nil {
			t.Fatalf("workflow stream %s: %v", id, err)
		}
		if s.ExecutionID() == "" {
			continue
		}
		seen["workflow"]++
		if st, done := s.Done(); !done || len(s.Pending()) > 0 {
			t.Errorf("workflow %s: done %v (%s) with %d runs pending", id, done, st, len(s.Pending()))
		}
		for _, task := range []string{"deploy", "step1", "step2", "step3", "step4", "step5"} {
			for _, r := range s.Runs(task) {
				if r.Item != nil {
					seen["item"]++
				}
				if r.Retried {
					seen["retried"]++
				}
				if isWorkflow(streams["execution-"+r.ChildExecutionID]) {
					seen["nested"]++
				}
			}
		}
		if st, _ := s.Done(); st != "completed" {
			seen["failed"]++
		}
	}
	for _, k := range []string{"workflow", "item", "retried", "nested", "failed"} {
		if seen[k] == 0 {
			t.Errorf("the log has no %s; counts %v", k, seen)
		}
	}
}

func isWorkflow(es []event.Event) bool {
	for _, e := range es {
		if _, ok := e.(*workflow.WorkflowStarted); ok {
			return true
		}
	}
	return false
}
