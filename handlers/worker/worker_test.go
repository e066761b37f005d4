package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	dworker "github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/cancel"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/handlers/worker/workertest"
)

// corePack is the part of the core pack these tests run, with the real builtins.
func corePack() pack.PackRegistered {
	return pack.PackRegistered{Ref: "core", Version: "1.0.0", Actions: []pack.Action{
		{Ref: "core.echo", Name: "echo", RunnerType: pack.RunnerBuiltin, Parameters: pack.Params{"message": {Type: pack.ParamString, Required: true}}},
		{Ref: "core.sleep", Name: "sleep", RunnerType: pack.RunnerBuiltin, Parameters: pack.Params{"seconds": {Type: pack.ParamNumber, Required: true}}},
	}}
}

// testPack has one action per runtime; the scripts live in dir (a fake runner never reads
// them unless a digest is registered).
func testPack(dir string, actions ...pack.Action) pack.PackRegistered {
	return pack.PackRegistered{Ref: "test", Version: "1.0.0", Path: dir, Actions: append([]pack.Action{
		{Ref: "test.sh", Name: "sh", RunnerType: pack.RunnerShell, EntryPoint: "run.sh"},
		{Ref: "test.py", Name: "py", RunnerType: pack.RunnerPython, EntryPoint: "run.py"},
		{Ref: "test.builtin", Name: "builtin", RunnerType: pack.RunnerBuiltin},
	}, actions...)}
}

func builtins(t *testing.T) runtime.Runner {
	t.Helper()
	exe, err := process.New(process.Config{KillGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := builtin.New(builtin.Config{Executor: exe, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return runtime.NewRegistry(map[string]runtime.Runner{"builtin": b})
}

// summary is the stream as status changes and placements, the way a user reads a history.
func summary(t *testing.T, env *workertest.Env, id string) []string {
	t.Helper()
	_, recorded := env.Execution(id)
	var out []string
	for _, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case *execution.ExecutionRequested:
			out = append(out, "requested "+e.Action)
		case *execution.ExecutionScheduled:
			out = append(out, "scheduled on "+e.WorkerID+" ("+e.Runtime+")")
		case *execution.ExecutionStatusChanged:
			line := string(e.From) + " → " + string(e.To)
			if e.WorkerID != "" {
				line += " by " + e.WorkerID
			}
			out = append(out, line)
		}
	}
	return out
}

func TestAWorkerRunsABuiltinToCompletion(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: builtins(t)})
	env.Start()
	env.StartReaper(reaper.Config{}) // retries what waits for a free slot
	env.StartWorker(w)
	env.RegisterPack(corePack())

	id := env.Request("core.echo", "builtin", `{"message":"hello, world"}`)
	done := env.WaitStatus(id, execution.Completed, execution.Failed)

	if done.To != execution.Completed || !strings.Contains(string(done.Result), "hello, world") {
		t.Fatalf("ended %s (%s) with result %s, want completed with the message", done.To, done.Reason, done.Result)
	}
	want := []string{
		"requested core.echo",
		"requested → scheduling",
		"scheduled on " + w.ID() + " (builtin)",
		"scheduling → scheduled",
		"scheduled → running by " + w.ID(),
		"running → completed by " + w.ID(),
	}
	if got := summary(t, env, id); !slices.Equal(got, want) {
		t.Fatalf("history:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestTwoWorkersReceiveOnlyWhatTheyCanRun(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			env := workertest.New(t, workertest.Options{Transport: tr})
			shellRunner, pythonRunner := &workertest.Runner{}, &workertest.Runner{}
			sh := env.AddWorker(worker.Config{Runtimes: []string{"bash"}, Runner: shellRunner})
			py := env.AddWorker(worker.Config{Runtimes: []string{"python3"}, Runner: pythonRunner})
			env.Start()
			env.StartReaper(reaper.Config{})
			env.StartWorker(sh)
			env.StartWorker(py)
			env.RegisterPack(testPack(t.TempDir()))

			var shellIDs, pythonIDs []string
			for range 4 {
				shellIDs = append(shellIDs, env.Request("test.sh", "shell", ""))
				pythonIDs = append(pythonIDs, env.Request("test.py", "python", ""))
			}
			for _, id := range append(slices.Clone(shellIDs), pythonIDs...) {
				if ch := env.WaitStatus(id, execution.Completed, execution.Failed); ch.To != execution.Completed {
					t.Fatalf("execution %s ended %s: %s", id, ch.To, ch.Reason)
				}
			}
			ran := func(r *workertest.Runner) (ids []string) {
				for _, req := range r.Calls() {
					ids = append(ids, req.ExecutionID)
				}
				slices.Sort(ids)
				return ids
			}
			slices.Sort(shellIDs)
			slices.Sort(pythonIDs)
			if got := ran(shellRunner); !slices.Equal(got, shellIDs) {
				t.Errorf("the shell worker ran %v, want the shell executions %v", got, shellIDs)
			}
			if got := ran(pythonRunner); !slices.Equal(got, pythonIDs) {
				t.Errorf("the python worker ran %v, want the python executions %v", got, pythonIDs)
			}
			for _, req := range shellRunner.Calls() {
				if req.RunnerType != pack.RunnerShell || !strings.HasSuffix(req.EntryPoint, filepath.Join("actions", "run.sh")) {
					t.Errorf("shell run as %s of %q, want shell and the pack's actions/run.sh", req.RunnerType, req.EntryPoint)
				}
			}
		})
	}
}

func TestEveryMessageTwiceStillRunsEachExecutionOnce(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess, PublishTwice: true})
	runner := &workertest.Runner{}
	w1 := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 2})
	w2 := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, MaxConcurrency: 2})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w1)
	env.StartWorker(w2)
	env.RegisterPack(testPack(t.TempDir()))

	var ids []string
	for range 12 {
		ids = append(ids, env.Request("test.builtin", "builtin", ""))
	}
	for _, id := range ids {
		if ch := env.WaitStatus(id, execution.Completed, execution.Failed); ch.To != execution.Completed {
			t.Fatalf("execution %s ended %s: %s", id, ch.To, ch.Reason)
		}
		// One placement, one start, one end: nothing was decided twice.
		if got := summary(t, env, id); len(got) != 6 {
			t.Errorf("execution %s history:\n\t%s\nwant six events", id, strings.Join(got, "\n\t"))
		}
	}
	runs := map[string]int{}
	for _, req := range runner.Calls() {
		runs[req.ExecutionID]++
	}
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("execution %s ran %d times, want once", id, runs[id])
		}
	}
	if len(runs) != len(ids) {
		t.Errorf("the runner ran %d distinct executions, want %d", len(runs), len(ids))
	}
}

// TestCancelOfARunningSleepEndsCancelled: the cancel is addressed to the worker running the
// execution (on RabbitMQ, through its own queue's binding), which kills the run.
func TestCancelOfARunningSleepEndsCancelled(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			env := workertest.New(t, workertest.Options{Transport: tr})
			w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: builtins(t)})
			env.Start()
			env.StartReaper(reaper.Config{})
			env.StartWorker(w)
			env.RegisterPack(corePack())

			id := env.Request("core.sleep", "builtin", `{"seconds":600}`)
			env.WaitStatus(id, execution.Running)
			// What the API does on `attune execution cancel`: the move to canceling names the
			// worker, which is how the bus addresses it to that worker alone.
			if to, err := cancel.Cancel(context.Background(), env.Store, id, "tester"); err != nil || to != execution.Canceling {
				t.Fatalf("cancel = %s, %v; want canceling", to, err)
			}

			done := env.WaitStatus(id, execution.Cancelled, execution.Completed, execution.Failed, execution.Abandoned)
			if done.From != execution.Canceling || done.To != execution.Cancelled || done.WorkerID != w.ID() {
				t.Fatalf("ended %s → %s by %q (%s), want canceling → cancelled by %s", done.From, done.To, done.WorkerID, done.Reason, w.ID())
			}
		})
	}
}

func TestARunThatEndsBeforeItsCancelLandsKeepsItsOutcome(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	// A run that cannot be interrupted: it ends on its own, whatever the cancel says.
	runner := &workertest.Runner{Fn: func(context.Context, runtime.Request) runtime.Outcome {
		<-release
		return runtime.Outcome{Status: execution.Completed, Result: json.RawMessage(`"done"`)}
	}}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(id, execution.Running)
	env.Append(execution.StreamID(id), execution.ExecutionStatusChanged{ExecutionID: id, From: execution.Running, To: execution.Canceling, WorkerID: w.ID()})
	close(release)

	done := env.WaitStatus(id, execution.Cancelled, execution.Completed, execution.Failed, execution.Abandoned)
	if done.From != execution.Canceling || done.To != execution.Completed || string(done.Result) != `"done"` {
		t.Fatalf("ended %s → %s with %s, want canceling → completed with the run's result", done.From, done.To, done.Result)
	}
}

func TestAnEntryPointEditedSinceRegistrationDoesNotRun(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	runner := &workertest.Runner{}
	w := env.AddWorker(worker.Config{Runtimes: []string{"shell"}, Runner: runner})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)

	dir := t.TempDir()
	registered := []byte("#!/bin/sh\necho registered\n")
	sum := sha256.Sum256(registered)
	if err := os.MkdirAll(filepath.Join(dir, "actions"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"same.sh": string(registered), "edited.sh": "#!/bin/sh\necho edited\n"} {
		if err := os.WriteFile(filepath.Join(dir, "actions", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env.RegisterPack(testPack(dir,
		pack.Action{Ref: "test.same", Name: "same", RunnerType: pack.RunnerShell, EntryPoint: "same.sh", EntryPointSHA256: hex.EncodeToString(sum[:])},
		pack.Action{Ref: "test.edited", Name: "edited", RunnerType: pack.RunnerShell, EntryPoint: "edited.sh", EntryPointSHA256: hex.EncodeToString(sum[:])},
	))

	same, edited := env.Request("test.same", "shell", ""), env.Request("test.edited", "shell", "")
	if ch := env.WaitStatus(edited, execution.Completed, execution.Failed); ch.To != execution.Failed ||
		!strings.Contains(ch.Reason, "entry point changed since the pack was registered") {
		t.Fatalf("edited script: %s (%s), want failed: entry point changed", ch.To, ch.Reason)
	}
	if ch := env.WaitStatus(same, execution.Completed, execution.Failed); ch.To != execution.Completed {
		t.Fatalf("unchanged script: %s (%s), want completed", ch.To, ch.Reason)
	}
	calls := runner.Calls()
	if len(calls) != 1 || calls[0].ExecutionID != same || calls[0].EntryPoint != filepath.Join(dir, "actions", "same.sh") {
		t.Fatalf("runner got %+v, want only the unchanged script, by its path", calls)
	}
}

func TestSecretParametersAreOpenedOnlyForTheRun(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	runner := &workertest.Runner{}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, Box: box})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir(), pack.Action{Ref: "test.login", Name: "login", RunnerType: pack.RunnerBuiltin,
		Parameters: pack.Params{"user": {Type: pack.ParamString}, "token": {Type: pack.ParamString, Secret: true}}}))

	params, err := box.SealParams(json.RawMessage(`{"user":"ada","token":"s3cr3t"}`), "test.login", func(n string) bool { return n == "token" })
	if err != nil {
		t.Fatal(err)
	}
	id := env.Request("test.login", "builtin", string(params))
	env.WaitStatus(id, execution.Completed)

	calls := runner.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d runs, want 1", len(calls))
	}
	var got map[string]string
	if err := json.Unmarshal(calls[0].Parameters, &got); err != nil || got["token"] != "s3cr3t" || got["user"] != "ada" {
		t.Fatalf("the runner got parameters %s (%v), want the token opened", calls[0].Parameters, err)
	}
	if !slices.Equal(calls[0].Secrets, []string{"token"}) {
		t.Errorf("secrets to mask %v, want [token]", calls[0].Secrets)
	}
	_, recorded := env.Execution(id)
	for _, r := range recorded {
		if strings.Contains(string(r.Data), "s3cr3t") {
			t.Fatalf("the log holds the secret in plaintext: %s %s", r.Type, r.Data)
		}
	}
}

func TestACleanStopDrainsDeregistersAndLeavesNoHeartbeat(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	release := make(chan struct{})
	runner := &workertest.Runner{Fn: workertest.Block(release)}
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, DrainTimeout: WaitForever})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(id, execution.Running)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	// The run under way finishes before the worker leaves.
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if ch := env.WaitStatus(id, execution.Completed, execution.Abandoned); ch.To != execution.Completed {
		t.Fatalf("the run in progress at the stop ended %s (%s), want completed", ch.To, ch.Reason)
	}
	recorded, err := env.Store.ReadStream(context.Background(), dworker.StreamID(w.ID()))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range recorded {
		types = append(types, r.Type+" "+string(r.Data))
	}
	if len(recorded) != 2 || recorded[1].Type != "WorkerDeregistered" || strings.Contains(string(recorded[1].Data), `"lost":true`) {
		t.Fatalf("worker stream:\n\t%s\nwant registered, then deregistered (not lost)", strings.Join(types, "\n\t"))
	}
	live, err := env.Heartbeats.Live(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("heartbeat rows after a clean stop: %+v", live)
	}
}

// WaitForever is a drain timeout no test reaches.
const WaitForever = time.Hour

func TestAStopThatOutwaitsItsDrainAbandonsTheRun(t *testing.T) {
	t.Parallel()
	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
	runner := &workertest.Runner{Fn: workertest.Block(nil)} // runs until killed
	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner, DrainTimeout: 100 * time.Millisecond})
	env.Start()
	env.StartReaper(reaper.Config{})
	env.StartWorker(w)
	env.RegisterPack(testPack(t.TempDir()))

	id := env.Request("test.builtin", "builtin", "")
	env.WaitStatus(id, execution.Running)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch := env.WaitStatus(id, execution.Abandoned, execution.Completed, execution.Failed)
	if ch.From != execution.Running || ch.To != execution.Abandoned || !strings.Contains(ch.Reason, "worker "+w.ID()) ||
		!strings.Contains(ch.Reason, "stopped before the run ended") {
		t.Fatalf("ended %s → %s (%s), want running → abandoned naming the stopped worker", ch.From, ch.To, ch.Reason)
	}
}
