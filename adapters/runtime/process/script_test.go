package process_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/execution"
)

// decoded is a JSON value decoded, for comparisons that ignore key order and spacing.
func decoded(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("result %q is not JSON: %v", raw, err)
	}
	return v
}

func run(t *testing.T, r runtime.Runner, req runtime.Request) runtime.Outcome {
	t.Helper()
	return r.Run(t.Context(), req)
}

func TestPythonScriptPrintsJSONResult(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "greet.py", `
import json, os, sys
p = json.load(sys.stdin)
print(json.dumps({
    "greeting": "hello, " + p["name"],
    "execution_id": os.environ["ATTUNE_EXECUTION_ID"],
    "action": os.environ["ATTUNE_ACTION"],
    "cwd": os.getcwd(),
}))
`)
	o := run(t, e.Script(interpreter(t, "python3")), runtime.Request{
		ExecutionID: "01EXEC", Action: "examples.greet", EntryPoint: entry,
		Parameters: json.RawMessage(`{"name": "world"}`),
	})
	if o.Status != execution.Completed || o.ExitCode == nil || *o.ExitCode != 0 {
		t.Fatalf("status %s, exit %v, reason %q, stderr %q", o.Status, o.ExitCode, o.Reason, o.Stderr)
	}
	want := map[string]any{"greeting": "hello, world", "execution_id": "01EXEC", "action": "examples.greet", "cwd": filepath.Dir(entry)}
	if got := decoded(t, o.Result); !reflect.DeepEqual(got, want) {
		t.Errorf("result %v, want %v", got, want)
	}
}

func TestNodeScriptPrintsJSONResult(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "sum.js", `
const p = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify({sum: p.numbers.reduce((a, b) => a + b, 0), cwd: process.cwd()}));
`)
	o := run(t, e.Script(interpreter(t, "node")), runtime.Request{
		ExecutionID: "01EXEC", Action: "examples.sum", EntryPoint: entry,
		Parameters: json.RawMessage(`{"numbers": [1, 2, 39]}`),
	})
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q, stderr %q", o.Status, o.Reason, o.Stderr)
	}
	want := map[string]any{"sum": 42.0, "cwd": filepath.Dir(entry)}
	if got := decoded(t, o.Result); !reflect.DeepEqual(got, want) {
		t.Errorf("result %v, want %v", got, want)
	}
}

func TestPlainTextOutputIsKeptAsText(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "say.sh", "echo 'hello, <world> & co'\necho 'second line'\n")
	o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{Action: "examples.say", EntryPoint: entry})
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q", o.Status, o.Reason)
	}
	if want := `"hello, <world> & co\nsecond line"`; string(o.Result) != want {
		t.Errorf("result %s, want %s", o.Result, want)
	}
	if want := "hello, <world> & co\nsecond line\n"; o.Stdout != want {
		t.Errorf("stdout %q, want %q", o.Stdout, want)
	}
}

func TestParametersArriveOnStdinWhichIsThenClosed(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	// cat ends only at EOF: a stdin left open would hang it until the timeout.
	entry := script(t, "cat.sh", "cat\n")
	params := `{"message":"hi","n":[1,2]}`
	o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{
		EntryPoint: entry, Parameters: json.RawMessage(params), Timeout: 30 * time.Second,
	})
	if o.Status != execution.Completed || string(o.Result) != params {
		t.Errorf("status %s, result %s, want completed with %s", o.Status, o.Result, params)
	}
	// No parameters at all is the empty object, so a script can always parse its stdin.
	o = run(t, e.Script(interpreter(t, "bash")), runtime.Request{EntryPoint: entry, Timeout: 30 * time.Second})
	if string(o.Result) != "{}" {
		t.Errorf("result without parameters %s, want {}", o.Result)
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{Path: "/usr/bin:/bin", Home: "/nonexistent-home"})
	entry := script(t, "env.py", "import json, os\nprint(json.dumps(dict(os.environ)))\n")
	o := run(t, e.Script(interpreter(t, "python3")), runtime.Request{
		ExecutionID: "01EXEC", Action: "examples.env", EntryPoint: entry,
		Parameters: json.RawMessage(`{"token": "not-in-env"}`),
	})
	want := map[string]any{
		"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home", "LANG": "C.UTF-8",
		"ATTUNE_EXECUTION_ID": "01EXEC", "ATTUNE_ACTION": "examples.env",
	}
	if got := decoded(t, o.Result); !reflect.DeepEqual(got, want) {
		t.Errorf("environment %v, want exactly %v", got, want)
	}
}

func TestNonZeroExitFailsWithExitCodeAndStderr(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "fail.sh", "echo partial\necho 'working...' >&2\necho 'boom: disk full' >&2\nexit 3\n")
	o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{EntryPoint: entry})
	if o.Status != execution.Failed || o.ExitCode == nil || *o.ExitCode != 3 {
		t.Fatalf("status %s, exit %v; want failed with exit code 3", o.Status, o.ExitCode)
	}
	if o.Stderr != "working...\nboom: disk full\n" || o.Stdout != "partial\n" {
		t.Errorf("stdout %q, stderr %q", o.Stdout, o.Stderr)
	}
	if !strings.Contains(o.Reason, "exit code 3") || !strings.HasSuffix(o.Reason, "boom: disk full") {
		t.Errorf("reason %q, want the exit code and the end of stderr", o.Reason)
	}
}

func TestPythonTracebackEndsTheReason(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "crash.py", "import sys\nsys.stderr.write('noise\\n' * 5000)\nraise ValueError('bad input')\n")
	o := run(t, e.Script(interpreter(t, "python3")), runtime.Request{EntryPoint: entry})
	if o.Status != execution.Failed || *o.ExitCode != 1 {
		t.Fatalf("status %s, exit %v", o.Status, o.ExitCode)
	}
	if !strings.HasSuffix(o.Reason, "ValueError: bad input") || len(o.Reason) > 600 {
		t.Errorf("reason %q: want a short reason ending with the exception", o.Reason)
	}
}

func TestOutputIsCappedAndMarkedTruncated(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{MaxOutputBytes: 1001})
	// 100 kB on each stream: more than a pipe holds, so a capture that stopped reading would
	// block the script; "é" is two bytes, so the cap falls inside a character.
	entry := script(t, "loud.py", "import sys\nsys.stdout.write('é' * 50000)\nsys.stderr.write('y' * 100000)\n")
	o := run(t, e.Script(interpreter(t, "python3")), runtime.Request{EntryPoint: entry, Timeout: 30 * time.Second})
	if o.Status != execution.Completed {
		t.Fatalf("status %s, reason %q", o.Status, o.Reason)
	}
	if !o.Truncated {
		t.Error("not marked truncated")
	}
	if o.Stdout != strings.Repeat("é", 500) || !utf8.ValidString(o.Stdout) {
		t.Errorf("stdout has %d bytes, want 500 whole é (1000 bytes)", len(o.Stdout))
	}
	if len(o.Stderr) != 1001 {
		t.Errorf("stderr has %d bytes, want the cap, 1001", len(o.Stderr))
	}
	var text string
	if err := json.Unmarshal(o.Result, &text); err != nil || text != o.Stdout {
		t.Errorf("result of truncated output %.40q…, want the text as a string", o.Result)
	}
}

func TestBadEntryPointFails(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	dir := t.TempDir()
	for entry, want := range map[string]string{
		filepath.Join(dir, "missing.sh"): "no such file",
		dir:                              "not a regular file",
		"actions/relative.sh":            "not an absolute path",
		"":                               "no entry point",
	} {
		o := run(t, e.Script(interpreter(t, "bash")), runtime.Request{Action: "examples.x", EntryPoint: entry})
		if o.Status != execution.Failed || !strings.Contains(o.Reason, want) || !strings.HasPrefix(o.Reason, "examples.x: ") {
			t.Errorf("entry point %q: status %s, reason %q; want failed, %q", entry, o.Status, o.Reason, want)
		}
	}
}

func TestMissingInterpreterFails(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, process.Config{})
	entry := script(t, "x.sh", "true\n")
	o := run(t, e.Script("/nonexistent/bin/bash"), runtime.Request{EntryPoint: entry})
	if o.Status != execution.Failed || !strings.Contains(o.Reason, "/nonexistent/bin/bash") {
		t.Errorf("status %s, reason %q", o.Status, o.Reason)
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	for stdout, want := range map[string]string{
		"{\"a\": 1}\n":          `{"a": 1}`,
		"  [1, 2]  \n":          `[1, 2]`,
		"42\n":                  `42`,
		"hello\n":               `"hello"`,
		"hello\r\n\n":           `"hello"`,
		"  indented\n":          `"  indented"`,
		"{\"a\": 1}\n{\"b\":2}": `"{\"a\": 1}\n{\"b\":2}"`,
		"":                      ``,
		" \n ":                  ``,
	} {
		if got := process.Result(stdout); string(got) != want {
			t.Errorf("Result(%q) = %s, want %s", stdout, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := process.New(process.Config{MaxOutputBytes: -1, KillGrace: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "max output bytes") || !strings.Contains(err.Error(), "kill grace") {
		t.Errorf("error %v, want both problems named", err)
	}
}
