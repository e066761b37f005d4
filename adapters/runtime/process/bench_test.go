package process_test

import (
	"testing"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/process"
	"github.com/attune-go/attune/domain/execution"
)

// benchScript measures one run of a trivial script: fork/exec in a new process group, pipes,
// the interpreter's start-up, the group kill and reaping.
func benchScript(b *testing.B, interp, name, body string) {
	e, err := process.New(process.Config{})
	if err != nil {
		b.Fatal(err)
	}
	entry := b.TempDir() + "/" + name
	writeFile(b, entry, body)
	r := e.Script(interp)
	req := runtime.Request{ExecutionID: "01EXEC", Action: "examples.bench", EntryPoint: entry, Parameters: []byte(`{"a": 1}`)}
	for b.Loop() {
		if o := r.Run(b.Context(), req); o.Status != execution.Completed {
			b.Fatalf("status %s, reason %q", o.Status, o.Reason)
		}
	}
}

func BenchmarkShellTrue(b *testing.B) { benchScript(b, interpreter(b, "bash"), "true.sh", "true\n") }

func BenchmarkPythonPass(b *testing.B) {
	benchScript(b, interpreter(b, "python3"), "pass.py", "pass\n")
}

func BenchmarkNodeEmpty(b *testing.B) { benchScript(b, interpreter(b, "node"), "empty.js", "\n") }
