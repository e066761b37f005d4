package worker_test

import (
	"encoding/json"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

func TestARequestsTimeoutOverridesTheActions(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: builtins(t)})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)
	core := corePack()
	for i := range core.Actions {
		core.Actions[i].TimeoutSeconds = 600 // the action alone would let the sleep finish
	}
	env.RegisterPack(core)

	id := ulid.Make().String()
	env.Append(execution.StreamID(id), execution.ExecutionRequested{
		ExecutionID: id, Action: "core.sleep", RunnerType: "builtin",
		Parameters: json.RawMessage(`{"seconds":5}`), TimeoutSeconds: 1,
	})
	done := env.WaitStatus(id, execution.Timeout, execution.Completed, execution.Failed, execution.Abandoned)

	if done.From != execution.Running || done.To != execution.Timeout || done.WorkerID != w.ID() {
		t.Fatalf("ended %s → %s by %q (%s), want running → timeout by %s", done.From, done.To, done.WorkerID, done.Reason, w.ID())
	}
}
