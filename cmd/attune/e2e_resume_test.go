package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// TestE2EAWorkflowResumesAfterTheServerIsKilled kills `attune serve` (SIGKILL, a real process)
// while a workflow waits between tasks (a delayed task), starts it again, and checks that the
// workflow finishes with every task run exactly once: its state is in the log, not in the
// process.
func TestE2EAWorkflowResumesAfterTheServerIsKilled(t *testing.T) {
	t.Parallel()
	pack := writePack(t, map[string]string{
		"pack.yaml":          "ref: resume\nversion: 1.0.0\n",
		"actions/steps.yaml": "name: steps\nrunner_type: workflow\nentry_point: workflows/steps.yaml\n",
		"actions/workflows/steps.yaml": `version: 1
tasks:
  first:
    action: core.echo
    input: {message: one}
    next: [{do: [second]}]
  second:
    action: core.echo
    delay: 10
    input: {message: two}
    next: [{do: [third]}]
  third:
    action: core.echo
    input: {message: three}
output: {done: true}
`,
	})
	sys := prepareSystem(t, "inprocess")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], sys.serveArgs([]string{pack})...)
		cmd.Env = append(os.Environ(), "ATTUNE_E2E_MAIN=1")
		cmd.Stdout, cmd.Stderr = sys.logs, sys.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	first := start()
	sys.connect()
	ctx := context.Background()
	if _, err := sys.api.Run(ctx, "resume.steps", nil); err != nil {
		t.Fatal(err)
	}
	var wf string
	sys.eventually(10*time.Second, "the workflow to start", func() bool {
		xs := sys.executions(url.Values{"action": {"resume.steps"}})
		if len(xs) > 0 {
			wf = xs[0].ID
		}
		return wf != ""
	})
	sys.eventually(30*time.Second, "the second task to wait out its delay", func() bool {
		for _, c := range sys.executions(url.Values{"parent": {wf}}) {
			if c.WorkflowTask == "second" && c.Status == execution.Delayed {
				return true
			}
		}
		return false
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	// Back at once: a run the new server places on the dead server's worker (its heartbeat is
	// fresh for another TTL) never starts there, and is placed again once that worker is
	// declared lost.
	start()
	sys.waitReady()

	if x := sys.waitTerminal(wf); x.Status != execution.Completed {
		for _, c := range sys.executions(url.Values{"parent": {wf}}) {
			t.Logf("child %s %s %s worker=%s reason=%s", c.WorkflowTask, c.ID, c.Status, c.Worker, c.Reason)
		}
		t.Fatalf("the workflow after the kill: %s (%s), want completed", x.Status, x.Reason)
	}
	runs := map[string]int{}
	for _, c := range sys.executions(url.Values{"parent": {wf}}) {
		if c.Status != execution.Completed {
			t.Errorf("task %s: %s (%s)", c.WorkflowTask, c.Status, c.Reason)
		}
		runs[c.WorkflowTask]++
	}
	for _, task := range []string{"first", "second", "third"} {
		if runs[task] != 1 {
			t.Errorf("task %s ran %d times, want exactly once (all: %v)", task, runs[task], runs)
		}
	}
}
