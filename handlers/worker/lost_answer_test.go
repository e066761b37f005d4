package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

// lostAnswer is a log whose first append of a running status commits but answers an error,
// as when the database's connection dies during COMMIT.
type lostAnswer struct {
	worker.Log
	lost atomic.Bool
}

func (l *lostAnswer) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	res, err := l.Log.Append(ctx, stream, expected, events...)
	if err == nil && len(events) == 1 && events[0].Type == "ExecutionStatusChanged" && !l.lost.Load() {
		var ch execution.ExecutionStatusChanged
		if json.Unmarshal(events[0].Data, &ch) == nil && ch.To == execution.Running {
			l.lost.Store(true)
			return res, errors.New("connection reset by peer: the commit's answer never came")
		}
	}
	return res, err
}

// The worker's "running" commits but its answer is lost: the retry finds its own event in
// the log and runs the execution, once. Before, it took the execution for someone else's and
// left it running with nobody running it (seen once in the fault suite's database restart).
func TestAWorkerWhoseRunningAnswerWasLostStillRunsItOnce(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	runner := &workertest.Runner{}
	log := &lostAnswer{Log: env.Store}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, Log: log})
	env.Start()
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(id, execution.Completed)
	if !log.lost.Load() {
		t.Fatal("no running append lost its answer: the test proves nothing")
	}
	if n := len(runner.Calls()); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
}
