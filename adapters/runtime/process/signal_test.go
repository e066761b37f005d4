package process_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/execution"
)

func TestTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{KillGrace: 30 * time.Second})
	// The grandchild would outlive a kill of the script alone.
	entry := script(t, "hang.sh", "sleep 300 &\necho $! > grandchild.pid\nwait\n")
	o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{EntryPoint: entry, Timeout: time.Second})
	if o.Status != execution.Timeout {
		t.Fatalf("status %s, reason %q; want timeout", o.Status, o.Reason)
	}
	if !strings.HasPrefix(o.Reason, "timed out after 1s: ") || !strings.Contains(o.Reason, "SIGTERM") {
		t.Errorf("reason %q", o.Reason)
	}
	waitGone(t, pidOf(t, waitFile(t, filepath.Join(filepath.Dir(entry), "grandchild.pid"))))
}

func TestExitKillsWhatTheScriptLeftRunning(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	// The background sleep keeps stdout open: the run must end anyway, when the script does.
	entry := script(t, "leak.sh", "sleep 300 &\necho $! > grandchild.pid\necho done\n")
	o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{EntryPoint: entry, Timeout: 60 * time.Second})
	if o.Status != execution.Completed || o.Stdout != "done\n" {
		t.Fatalf("status %s, stdout %q, reason %q; want completed", o.Status, o.Stdout, o.Reason)
	}
	waitGone(t, pidOf(t, waitFile(t, filepath.Join(filepath.Dir(entry), "grandchild.pid"))))
}

// runUntilReady starts the script and cancels the run once the script has written ready.
func runUntilReady(t *testing.T, e *process.Executor, entry string) runtime.Outcome {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan runtime.Outcome, 1)
	go func() {
		done <- e.Script(interpreter(t, "bash")).Run(ctx, runtime.Request{EntryPoint: entry, Timeout: time.Minute})
	}()
	waitFile(t, filepath.Join(filepath.Dir(entry), "ready"))
	cancel()
	return <-done
}

func TestCancelSendsSIGTERMFirst(t *testing.T) {
	t.Parallel()
	// A grace longer than the test's patience: only SIGTERM can end this run in time.
	e, _ := setup(t, process.Config{KillGrace: time.Hour})
	entry := script(t, "polite.sh", `trap 'echo "cleaning up"; exit 0' TERM
sleep 300 &
echo $$ > ready
wait $!
`)
	o := runUntilReady(t, e, entry)
	if o.Status != execution.Cancelled {
		t.Fatalf("status %s, reason %q; want cancelled", o.Status, o.Reason)
	}
	if o.Stdout != "cleaning up\n" || o.ExitCode == nil || *o.ExitCode != 0 {
		t.Errorf("stdout %q, exit %v: want the trap's clean-up and its exit code 0", o.Stdout, o.ExitCode)
	}
	if o.Reason != "cancelled: sent SIGTERM to the process group" {
		t.Errorf("reason %q", o.Reason)
	}
}

func TestCancelKillsAfterGraceWhenSIGTERMIsIgnored(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{KillGrace: 200 * time.Millisecond})
	entry := script(t, "stubborn.sh", `trap '' TERM
echo $$ > ready
while :; do sleep 1; done
`)
	o := runUntilReady(t, e, entry)
	if o.Status != execution.Cancelled {
		t.Fatalf("status %s, reason %q; want cancelled", o.Status, o.Reason)
	}
	if o.ExitCode == nil || *o.ExitCode != -9 || !strings.Contains(o.Reason, "SIGKILL, 200ms after SIGTERM") {
		t.Errorf("exit %v, reason %q: want killed by SIGKILL after the grace", o.ExitCode, o.Reason)
	}
}

func TestCancelledBeforeStartRunsNothing(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "touch.sh", "touch ran\n")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o := e.Script(interpreter(t, "bash")).Run(ctx, runtime.Request{EntryPoint: entry})
	if o.Status != execution.Cancelled {
		t.Errorf("status %s, want cancelled", o.Status)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(entry), "ran")); err == nil {
		t.Error("the script ran")
	}
}

func TestSecretNeverReachesArgvEnvironmentLogsOrOutcome(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-TOKEN-7f9a"
	e, logs := setup(t, process.Config{})
	entry := script(t, "secret.py", `
import json, os, sys, time
p = json.load(sys.stdin)
with open("pid", "w") as f:
    f.write(str(os.getpid()) + "\n")
while not os.path.exists("go"):
    time.sleep(0.02)
sys.stderr.write("using token " + p["api_token"] + "\n")
print(json.dumps({"received": p["api_token"] == "`+secret+`", "echo": "token=" + p["api_token"]}))
`)
	reg := runtime.NewRegistry(map[string]runtime.Runner{"python": e.Script(interpreter(t, "python3"))})
	done := make(chan runtime.Outcome, 1)
	go func() {
		done <- reg.Run(t.Context(), runtime.Request{
			ExecutionID: "01EXEC", Action: "examples.shout", RunnerType: "python3", EntryPoint: entry,
			Parameters: json.RawMessage(`{"message": "hi", "api_token": "` + secret + `"}`),
			Secrets:    []string{"api_token"}, Timeout: time.Minute,
		})
	}()
	dir := filepath.Dir(entry)
	proc := "/proc/" + waitFile(t, filepath.Join(dir, "pid"))
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		t.Fatalf("read cmdline: %v", err)
	}
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		t.Fatalf("read environ: %v", err)
	}
	// Make sure these are the running action's, then that the secret is in neither.
	if !strings.Contains(string(cmdline), entry) || !strings.Contains(string(environ), "ATTUNE_EXECUTION_ID=01EXEC") {
		t.Fatalf("cmdline %q, environ %q: not the action's process", cmdline, environ)
	}
	if strings.Contains(string(cmdline), secret) || strings.Contains(string(environ), secret) {
		t.Errorf("secret in argv %q or environment %q", cmdline, environ)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q", o.Status, o.Reason)
	}
	want := `{"echo":"token=********","received":true}`
	if string(o.Result) != want {
		t.Errorf("result %s, want %s (the script got the secret; the outcome masks it)", o.Result, want)
	}
	if o.Stderr != "using token ********\n" || strings.Contains(o.Stdout, secret) {
		t.Errorf("stdout %q, stderr %q: want the secret masked", o.Stdout, o.Stderr)
	}
	if !strings.Contains(logs.String(), "action process ended") || strings.Contains(logs.String(), secret) {
		t.Errorf("logs %q: want the run logged, without the secret", logs.String())
	}
}
