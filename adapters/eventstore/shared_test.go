package eventstore_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

func TestASharedRecordedIsDecodedOnceForAllItsCopies(t *testing.T) {
	t.Parallel()
	data, _ := json.Marshal(execution.ExecutionScheduled{ExecutionID: "x", WorkerID: "w1", Runtime: "shell"})
	r := eventstore.Recorded{StreamID: "execution-x", Type: "ExecutionScheduled", Data: data}

	// Unshared, every Decode is a fresh value.
	a, _ := r.Decode()
	b, _ := r.Decode()
	if a == b {
		t.Fatal("two decodes of an unshared event returned the same value")
	}
	// Shared, its copies (as handed to several handlers at once) read one value.
	s := r.Shared()
	got := make([]event.Event, 8)
	var wg sync.WaitGroup
	for i := range got {
		c := s // a copy per handler
		wg.Go(func() {
			p, err := c.Decode()
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	for _, p := range got[1:] {
		if p != got[0] {
			t.Fatal("copies of a shared event decoded different values")
		}
	}
	if p, ok := got[0].(*execution.ExecutionScheduled); !ok || p.WorkerID != "w1" {
		t.Fatalf("decoded %#v", got[0])
	}
}
