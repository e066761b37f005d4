package reaper_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/reaper"
	hworker "github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

func testPack() pack.PackRegistered {
	return pack.PackRegistered{Ref: "test", Version: "1.0.0", Path: "/nonexistent", Actions: []pack.Action{
		{Ref: "test.py", Name: "py", RunnerType: pack.RunnerPython, EntryPoint: "run.py"},
		{Ref: "test.builtin", Name: "builtin", RunnerType: pack.RunnerBuiltin},
	}}
}

// workerStream lists a worker's lifecycle as "Type {data}" lines.
func workerStream(t *testing.T, env *workertest.Env, id string) []string {
	t.Helper()
	recorded, err := env.Store.ReadStream(context.Background(), worker.StreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recorded {
		out = append(out, r.Type+" "+string(r.Data))
	}
	return out
}

func TestWithoutAWorkerForItsRuntimeAnExecutionFailsAtTheDeadline(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	shellOnly := env.AddWorker(hworker.Config{Runtimes: []string{"shell", "builtin"}, Runner: &workertest.Runner{}})
	env.Start()
	env.StartWorker(shellOnly)
	env.StartReaper(reaper.Config{SchedulingDeadline: 500 * time.Millisecond})
	env.RegisterPack(testPack())

	id := env.Request("test.py", "python", "")
	ch := env.WaitStatus(id, execution.Failed, execution.Scheduled, execution.Running, execution.Completed)

	if ch.From != execution.Scheduling || ch.To != execution.Failed || ch.Reason != "no worker for runtime python" {
		t.Fatalf("ended %s → %s (%q), want scheduling → failed: no worker for runtime python", ch.From, ch.To, ch.Reason)
	}
	if x, _ := env.Execution(id); x.WorkerID() != "" {
		t.Fatalf("the python execution was placed on %s", x.WorkerID())
	}
}

func TestAKilledWorkersExecutionsAreAbandoned(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	runner := &workertest.Runner{Fn: workertest.Block(release)}
	w := env.AddWorker(hworker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 2})
	env.Start()
	kill := env.StartWorker(w)
	env.StartReaper(reaper.Config{})
	env.RegisterPack(testPack())

	ids := []string{env.Request("test.builtin", "builtin", ""), env.Request("test.builtin", "builtin", "")}
	for _, id := range ids {
		env.WaitStatus(id, execution.Running)
	}
	kill() // beats stop; nothing is deregistered, as when a process is killed

	for _, id := range ids {
		ch := env.WaitStatus(id, execution.Abandoned, execution.Failed, execution.Completed)
		if ch.From != execution.Running || ch.To != execution.Abandoned {
			t.Fatalf("execution %s ended %s → %s (%s), want running → abandoned", id, ch.From, ch.To, ch.Reason)
		}
		if want := "worker " + w.ID() + " left (lost: no heartbeat for "; !strings.HasPrefix(ch.Reason, want) {
			t.Errorf("execution %s abandoned with %q, want it to start with %q", id, ch.Reason, want)
		}
	}
	lifecycle := workerStream(t, env, w.ID())
	if len(lifecycle) != 2 || !strings.HasPrefix(lifecycle[1], "WorkerDeregistered ") || !strings.Contains(lifecycle[1], `"lost":true`) {
		t.Fatalf("worker stream:\n\t%s\nwant registered, then deregistered as lost", strings.Join(lifecycle, "\n\t"))
	}
	live, err := env.Heartbeats.Live(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("the lost worker's heartbeat row is still there: %+v", live)
	}

	// The run ends after all (the process was only frozen): its outcome is not recorded over
	// the abandonment.
	close(release)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if x, _ := env.Execution(ids[0]); x.Status() != execution.Abandoned {
		t.Fatalf("after the frozen run ended, the execution is %s, want still abandoned", x.Status())
	}
}

// partition is a heartbeat table the test can cut the worker off from.
type partition struct {
	*heartbeat.Store
	cut atomic.Bool
}

func (p *partition) Beat(ctx context.Context, w heartbeat.Worker) (bool, error) {
	if p.cut.Load() {
		return false, context.DeadlineExceeded
	}
	return p.Store.Beat(ctx, w)
}

func TestAWorkerBackFromBeingLostRegistersAgainAndTakesNewWork(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	beats := &partition{Store: env.Heartbeats}
	release := make(chan struct{})
	runner := &workertest.Runner{Fn: workertest.Block(release)}
	w := env.AddWorker(hworker.Config{Runtimes: []string{"builtin"}, Runner: runner, Heartbeats: beats})
	env.Start()
	env.StartWorker(w)
	env.StartReaper(reaper.Config{})
	env.RegisterPack(testPack())

	before := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(before, execution.Running)
	beats.cut.Store(true)
	if ch := env.WaitStatus(before, execution.Abandoned, execution.Completed); ch.To != execution.Abandoned {
		t.Fatalf("the run of the cut-off worker ended %s, want abandoned", ch.To)
	}
	beats.cut.Store(false)

	// Back: its next beat finds its row gone, so it stops the wasted run and registers again.
	deadline := time.Now().Add(workertest.WaitLong)
	for len(workerStream(t, env, w.ID())) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("worker stream:\n\t%s\nwant it registered again", strings.Join(workerStream(t, env, w.ID()), "\n\t"))
		}
		time.Sleep(10 * time.Millisecond) // polling the log
	}
	lifecycle := workerStream(t, env, w.ID())
	if !strings.HasPrefix(lifecycle[2], "WorkerRegistered ") {
		t.Fatalf("worker stream:\n\t%s\nwant registered, lost, registered", strings.Join(lifecycle, "\n\t"))
	}
	close(release)
	after := env.Request("test.builtin", "builtin", "")
	if ch := env.WaitStatus(after, execution.Completed, execution.Failed, execution.Abandoned); ch.To != execution.Completed || ch.WorkerID != w.ID() {
		t.Fatalf("new work after the worker came back ended %s by %q (%s), want completed by it", ch.To, ch.WorkerID, ch.Reason)
	}
	if x, _ := env.Execution(before); x.Status() != execution.Abandoned {
		t.Fatalf("the abandoned execution is now %s", x.Status())
	}
}

func TestExecutionsLeftOnAWorkerThatLeftArePlacedAgainOrAbandoned(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	env.Start()
	// What the log holds when a worker stopped without settling its executions, or when the
	// read model showed them only after the worker had been declared lost and forgotten.
	env.Append(worker.StreamID("gone"),
		worker.WorkerRegistered{WorkerID: "gone", Name: "gone", Host: "h", Capabilities: worker.Capabilities{Runtimes: []string{"shell"}}, MaxConcurrency: 2},
		worker.WorkerDeregistered{WorkerID: "gone", Reason: "stopped"},
	)
	states := map[string][]execution.Status{
		"scheduled": {execution.Scheduling, execution.Scheduled},
		"running":   {execution.Scheduling, execution.Scheduled, execution.Running},
		"canceling": {execution.Scheduling, execution.Scheduled, execution.Running, execution.Canceling},
	}
	ids := map[string]string{}
	for name, path := range states {
		id := ulid.Make().String()
		ids[name] = id
		// One append: the scheduler is running and must not see the stream half written.
		history := []event.Event{execution.ExecutionRequested{ExecutionID: id, Action: "test.sh", RunnerType: "shell"}}
		from := execution.Requested
		for _, to := range path {
			if to == execution.Scheduled {
				history = append(history, execution.ExecutionScheduled{ExecutionID: id, WorkerID: "gone", Runtime: "shell"})
			}
			history = append(history, execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to})
			from = to
		}
		env.Append(execution.StreamID(id), history...)
	}
	env.StartReaper(reaper.Config{})

	for name, id := range ids {
		// Never started: placed again (no worker here takes it, so it waits); may have run:
		// abandoned.
		want, reason := execution.Abandoned, "worker gone left (stopped)"
		if name == "scheduled" {
			want, reason = execution.Scheduling, "worker gone left (stopped) before it started the run; placed again"
		}
		ch := env.WaitStatus(id, want)
		if ch.Reason != reason || ch.WorkerID != "gone" {
			t.Errorf("%s execution went to %s with reason %q by %q, want %q by the worker", name, ch.To, ch.Reason, ch.WorkerID, reason)
		}
		_, recorded := env.Execution(id)
		last, _ := json.Marshal(recorded[len(recorded)-1].Metadata)
		deregistered, err := env.Store.ReadStream(context.Background(), worker.StreamID("gone"))
		if err != nil {
			t.Fatal(err)
		}
		if recorded[len(recorded)-1].Metadata.CausationID != deregistered[1].ID.String() {
			t.Errorf("%s execution settled with metadata %s, want it caused by the worker's departure", name, last)
		}
	}
}

func TestTheBacklogOfAKilledWorkerRunsOnAnotherWorker(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	busy := &workertest.Runner{Fn: workertest.Block(release)}
	// One slot and a long run: the second execution waits in the first worker's queue.
	first := env.AddWorker(hworker.Config{Runtimes: []string{"builtin"}, Runner: busy, MaxConcurrency: 1})
	spare := &workertest.Runner{}
	second := env.AddWorker(hworker.Config{Runtimes: []string{"builtin"}, Runner: spare})
	env.Start()
	kill := env.StartWorker(first)
	env.RegisterPack(testPack())

	running := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(running, execution.Running)
	backlog := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(backlog, execution.Scheduled)
	kill() // beats stop; nothing is deregistered, as when the process is SIGKILLed
	env.StartWorker(second)
	env.StartReaper(reaper.Config{})

	if ch := env.WaitStatus(running, execution.Abandoned, execution.Completed); ch.To != execution.Abandoned {
		t.Fatalf("the run under way on the killed worker ended %s, want abandoned (it may have run)", ch.To)
	}
	done := env.WaitStatus(backlog, execution.Completed, execution.Failed, execution.Abandoned)
	if done.To != execution.Completed || done.WorkerID != second.ID() {
		t.Fatalf("the killed worker's backlog ended %s by %q (%s), want completed by %s", done.To, done.WorkerID, done.Reason, second.ID())
	}
	var history []string
	_, recorded := env.Execution(backlog)
	for _, r := range recorded {
		if e, err := r.Decode(); err == nil {
			if ch, ok := e.(*execution.ExecutionStatusChanged); ok {
				history = append(history, string(ch.From)+" → "+string(ch.To)+" "+ch.Reason)
			}
		}
	}
	want := "scheduled → scheduling worker " + first.ID() + " left (lost: no heartbeat for "
	if len(history) != 6 || !strings.HasPrefix(history[2], want) || !strings.HasSuffix(history[2], "before it started the run; placed again") {
		t.Fatalf("history of the backlog:\n\t%s\nwant requested → scheduling → scheduled → scheduling (%s…) → scheduled → running → completed",
			strings.Join(history, "\n\t"), want)
	}
	if len(busy.Calls()) != 1 {
		t.Fatalf("the killed worker ran %d executions, want only the first", len(busy.Calls()))
	}
}
