package reaper_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

// A workflow paused past MaxPaused is moved to canceling with the deadline as the reason (the
// engine then cancels what it holds), and not before.
func TestAWorkflowPausedPastItsDeadlineIsCancelled(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	env.Start()
	env.StartReaper(reaper.Config{MaxPaused: 700 * time.Millisecond})
	paused := func() string {
		id := ulid.Make().String()
		env.Append(execution.StreamID(id),
			execution.ExecutionRequested{ExecutionID: id, Action: "test.wf", RunnerType: "workflow"},
			execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Requested, To: execution.Running},
			execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: execution.Paused, Reason: "paused by alice"},
		)
		return id
	}
	// The deadline counts from the pause's recorded time, which is before Append returns:
	// start the clock before it.
	start := time.Now()
	old := paused()
	ch := env.WaitStatus(old, execution.Canceling)
	if waited := time.Since(start); waited < 700*time.Millisecond {
		t.Errorf("cancelled after %s, before its deadline", waited)
	}
	if !strings.Contains(ch.Reason, "paused for longer than 700ms") {
		t.Errorf("reason %q does not name the deadline", ch.Reason)
	}
}
