package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/memstore"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
	dworker "github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
	"github.com/attune-go/attune/projections/registry"
)

func TestAWorkerDoesNotRunWhatWasPlacedElsewhereMeanwhile(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	runner := &workertest.Runner{Fn: workertest.Block(release)}
	// One slot: the first run holds it, so the second execution waits in the worker's queue
	// while the reaper (here, the test) takes it back and places it on another worker.
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 1})
	env.Start()
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	first := env.Request("test.builtin", "builtin", "")
	runner.WaitCalls(t, 1)
	queued := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(queued, execution.Scheduled)
	x, _ := env.Execution(queued)
	if x.WorkerID() != w.ID() {
		t.Fatalf("the second execution went to %q, want the only worker %s", x.WorkerID(), w.ID())
	}
	waitHolds(t, env, w.ID(), 2) // the worker has it in its queue
	// Taken back and placed on "elsewhere", a worker this test does not run, so that the
	// execution stays scheduled there.
	env.Append(execution.StreamID(queued),
		execution.ExecutionStatusChanged{ExecutionID: queued, From: execution.Scheduled, To: execution.Scheduling, WorkerID: w.ID(), Reason: "test: placed again"},
		execution.ExecutionScheduled{ExecutionID: queued, WorkerID: "elsewhere", Runtime: "builtin"},
		execution.ExecutionStatusChanged{ExecutionID: queued, From: execution.Scheduling, To: execution.Scheduled},
	)
	// The old placement is delivered again, late, as a slow broker may.
	_, recorded := env.Execution(queued)
	if err := w.Handle(context.Background(), recorded[2]); err != nil {
		t.Fatal(err)
	}
	// A third execution queues behind the second: once it has run, the worker has been
	// through the second one's job.
	last := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(last, execution.Scheduled)
	close(release)
	env.WaitStatus(first, execution.Completed)
	env.WaitStatus(last, execution.Completed)

	var ran []string
	for _, c := range runner.Calls() {
		ran = append(ran, c.ExecutionID)
	}
	if !slices.Equal(ran, []string{first, last}) {
		t.Fatalf("the worker ran %v, want only %s and %s (not %s, placed elsewhere)", ran, first, last, queued)
	}
	want := []string{
		"requested test.builtin",
		"requested → scheduling",
		"scheduled on " + w.ID() + " (builtin)",
		"scheduling → scheduled",
		"scheduled → scheduling by " + w.ID(),
		"scheduled on elsewhere (builtin)",
		"scheduling → scheduled",
	}
	if got := summary(t, env, queued); !slices.Equal(got, want) {
		t.Fatalf("history of the execution placed elsewhere:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestAStoppingWorkerHandsBackWhatItQueuedButNeverStarted(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	runner := &workertest.Runner{Fn: workertest.Block(release)}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 1, DrainTimeout: WaitForever})
	env.Start()
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	first := env.Request("test.builtin", "builtin", "")
	runner.WaitCalls(t, 1)
	queued := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(queued, execution.Scheduled)
	waitHolds(t, env, w.ID(), 2) // the worker has it in its queue
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	ch := env.WaitStatus(queued, execution.Scheduling)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if want := "worker " + w.ID() + " stopped before it started the run; placed again"; ch.From != execution.Scheduled || ch.Reason != want {
		t.Fatalf("the queued execution went %s → %s (%q), want scheduled → scheduling (%q)", ch.From, ch.To, ch.Reason, want)
	}
	if done := env.WaitStatus(first, execution.Completed, execution.Abandoned); done.To != execution.Completed {
		t.Fatalf("the run under way at the stop ended %s, want completed", done.To)
	}
}

// refusing is a log whose appends to worker streams fail, so that registration fails.
type refusing struct{ *memstore.Store }

func (r refusing) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error) {
	if strings.HasPrefix(stream, dworker.StreamID("")) {
		return eventstore.AppendResult{}, errors.New("database away")
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

type noBeats struct{}

func (noBeats) Beat(context.Context, heartbeat.Worker) (bool, error) { return true, nil }
func (noBeats) Remove(context.Context, string) error                 { return nil }

func TestStopReturnsAfterAFailedStart(t *testing.T) {
	t.Parallel()
	w, err := worker.New(worker.Config{
		Runtimes: []string{"builtin"}, Runner: &workertest.Runner{},
		Log: refusing{memstore.New(memstore.Config{})}, Heartbeats: noBeats{},
		Catalog: registry.New(registry.Config{}), Logger: bustest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "database away") {
		t.Fatalf("Start = %v, want the registration's failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), workertest.WaitLong)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx) }()
	select {
	case <-stopped: // an error or not, it returned: nothing was registered to undo
	case <-ctx.Done():
		t.Fatalf("Stop after a failed Start did not return within %s", workertest.WaitLong)
	}
}

func TestStopReturnsWhenItsContextEndsWhileARunWillNotEnd(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	// A run that ignores its cancel, as a hung runtime would.
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	runner := &workertest.Runner{Fn: workertest.Block(stuck)}
	runner.Fn = func(ctx context.Context, req runtime.Request) runtime.Outcome {
		<-stuck
		return runtime.Outcome{Status: execution.Completed}
	}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, DrainTimeout: WaitForever})
	env.Start()
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))
	env.Request("test.builtin", "builtin", "")
	runner.WaitCalls(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err == nil {
		t.Fatal("Stop with a run that never ends returned no error")
	}
}

// waitHolds polls the heartbeat table until the worker beats that it holds n executions.
func waitHolds(t *testing.T, env *workertest.Env, workerID string, n int) {
	t.Helper()
	deadline := time.Now().Add(workertest.WaitLong)
	for {
		live, err := env.Heartbeats.Live(context.Background(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range live {
			if w.ID == workerID && w.Running == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s does not beat that it holds %d executions: %+v", workerID, n, live)
		}
		time.Sleep(10 * time.Millisecond) // polling the table
	}
}

// stalled is a catalogue that never catches up: a run waits for it until its context ends.
type stalled struct{ worker.Catalog }

func (stalled) WaitFor(ctx context.Context, _ eventstore.Position) error {
	<-ctx.Done()
	return context.Cause(ctx)
}

func TestAWorkerStoppedBeforeTheProcessStartsLeavesTheExecutionToBePlacedAgain(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	runner := &workertest.Runner{}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, Catalog: stalled{env.Catalog}, DrainTimeout: 100 * time.Millisecond})
	env.Start()
	env.StartWorker(w)
	env.StartReaper(reaper.Config{})
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	waitHolds(t, env, w.ID(), 1) // taken, and stuck preparing the run
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The log never said running: nothing may have started, so it is placed again, not
	// abandoned.
	ch := env.WaitStatus(id, execution.Scheduling, execution.Running, execution.Abandoned, execution.Failed)
	if ch.From != execution.Scheduled || ch.To != execution.Scheduling || !strings.Contains(ch.Reason, "placed again") {
		t.Fatalf("after the worker stopped before the run began: %s → %s (%s), want scheduled → scheduling, placed again", ch.From, ch.To, ch.Reason)
	}
	if calls := runner.Calls(); len(calls) != 0 {
		t.Fatalf("the runner was called %d times, want never", len(calls))
	}
}

// behindOnce is a catalogue whose first wait fails, as when the database is away while the
// worker prepares a run; later waits succeed.
type behindOnce struct {
	worker.Catalog
	failed atomic.Bool
}

func (c *behindOnce) WaitFor(ctx context.Context, pos eventstore.Position) error {
	if c.failed.CompareAndSwap(false, true) {
		return errors.New("wait for the catalogue: the database is away")
	}
	return c.Catalog.WaitFor(ctx, pos)
}

// A worker that cannot read its catalogue when a placement arrives hands the execution back
// to be placed again, rather than failing it for the worker's own trouble: it then runs.
func TestAWorkerThatCannotReadItsCatalogueHandsTheExecutionBack(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	runner := &workertest.Runner{}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, Catalog: &behindOnce{Catalog: env.Catalog}})
	env.Start()
	env.StartWorker(w)
	env.StartReaper(reaper.Config{})
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	if end := env.WaitStatus(id, execution.Completed, execution.Failed, execution.Abandoned); end.To != execution.Completed {
		t.Fatalf("the execution ended %s (%s), want completed once handed back and placed again", end.To, end.Reason)
	}
	_, recorded := env.Execution(id)
	handedBack := false
	for _, r := range recorded {
		var ch execution.ExecutionStatusChanged
		if r.Type != ch.EventType() {
			continue
		}
		if err := json.Unmarshal(r.Data, &ch); err != nil {
			t.Fatal(err)
		}
		handedBack = handedBack || (ch.From == execution.Scheduled && ch.To == execution.Scheduling &&
			strings.Contains(ch.Reason, "could not read the action catalogue") && strings.Contains(ch.Reason, "placed again"))
	}
	if !handedBack {
		t.Fatalf("no scheduled → scheduling hand-back naming the catalogue in the log:\n%s", workertest.Script(recorded))
	}
	if calls := runner.Calls(); len(calls) != 1 {
		t.Fatalf("the runner was called %d times, want once", len(calls))
	}
}
