package builtin_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/domain/execution"
)

func TestLocalRunsTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.local",
		`{"cmd": "echo \"$GREETING from $(pwd) for $ATTUNE_EXECUTION_ID\"; echo warn >&2", "cwd": "`+dir+`", "env": {"GREETING": "hello"}}`))
	if o.Status != execution.Completed || o.ExitCode == nil || *o.ExitCode != 0 {
		t.Fatalf("status %s, exit %v, reason %q", o.Status, o.ExitCode, o.Reason)
	}
	want := map[string]any{"stdout": "hello from " + dir + " for 01EXEC\n", "stderr": "warn\n", "return_code": 0.0, "succeeded": true, "failed": false}
	if got := decoded(t, o.Result); !reflect.DeepEqual(got, want) {
		t.Errorf("result %v, want %v", got, want)
	}
}

func TestLocalFailsOnNonZeroExit(t *testing.T) {
	t.Parallel()
	o := setup(t, builtin.Config{}).Run(t.Context(), request("core.local", `{"cmd": "echo nope >&2; exit 4"}`))
	if o.Status != execution.Failed || *o.ExitCode != 4 || o.Reason != "exit code 4: nope" {
		t.Errorf("status %s, exit %v, reason %q", o.Status, o.ExitCode, o.Reason)
	}
	want := map[string]any{"stdout": "", "stderr": "nope\n", "return_code": 4.0, "succeeded": false, "failed": true}
	if got := decoded(t, o.Result); !reflect.DeepEqual(got, want) {
		t.Errorf("result %v, want %v", got, want)
	}
}

func TestLocalTimesOut(t *testing.T) {
	t.Parallel()
	req := request("core.local", `{"cmd": "sleep 300"}`)
	req.Timeout = 100 * time.Millisecond
	o := setup(t, builtin.Config{}).Run(t.Context(), req)
	if o.Status != execution.Timeout || !strings.HasPrefix(o.Reason, "timed out after 100ms") {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
}

// The command is a template's output and may hold a secret: it must not be in argv, and the
// file it goes through instead must be private and gone afterwards.
func TestLocalKeepsTheCommandOutOfArgv(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-CMD"
	dir := t.TempDir()
	r := setup(t, builtin.Config{})
	cmd := `echo $$ > ` + dir + `/pid; while [ ! -e ` + dir + `/go ]; do sleep 0.02; done; echo "` + secret + `"`
	done := make(chan runtime.Outcome, 1)
	go func() {
		req := request("core.local", `{"cmd": "`+strings.ReplaceAll(cmd, `"`, `\"`)+`"}`)
		req.Timeout = time.Minute
		done <- r.Run(t.Context(), req)
	}()
	pid := waitFile(t, filepath.Join(dir, "pid"))
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil {
		t.Fatalf("read cmdline: %v", err)
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	if len(args) != 2 || args[1] != "/dev/fd/3" || strings.Contains(string(cmdline), secret) {
		t.Fatalf("argv %q: want bash reading the command from its pipe on fd 3", args)
	}
	// The command is on a pipe, not in a file another process could open by name.
	if target, err := os.Readlink("/proc/" + pid + "/fd/3"); err != nil || !strings.HasPrefix(target, "pipe:") {
		t.Errorf("fd 3 of bash is %q (%v), want a pipe", target, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o.Status != execution.Completed || o.Stdout != secret+"\n" {
		t.Errorf("status %s, stdout %q, reason %q", o.Status, o.Stdout, o.Reason)
	}
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StackStorm's core.local takes a timeout parameter: the run ends timeout at it, well within
// the action's own timeout.
func TestLocalTimeoutParameterEndsTheRun(t *testing.T) {
	t.Parallel()
	req := request("core.local", `{"cmd": "sleep 300", "timeout": 1}`)
	req.Timeout = time.Minute
	o := setup(t, builtin.Config{}).Run(t.Context(), req)
	if o.Status != execution.Timeout || !strings.Contains(o.Reason, "timed out after 1s") {
		t.Fatalf("status %s, reason %q: want timeout after 1s", o.Status, o.Reason)
	}
}
