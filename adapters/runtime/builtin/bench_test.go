package builtin_test

import (
	"testing"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/adapters/runtime/builtin"
	"github.com/attune-go/attune/domain/execution"
)

// BenchmarkNoop is the floor of a run: a builtin through the registry (alias lookup, timeout
// context, secret masking).
func BenchmarkNoop(b *testing.B) {
	reg := runtime.NewRegistry(map[string]runtime.Runner{"builtin": setup(b, builtin.Config{})})
	req := runtime.Request{
		ExecutionID: "01EXEC", Action: "core.noop", RunnerType: "builtin",
		Parameters: []byte(`{"token": "t"}`), Secrets: []string{"token"},
	}
	for b.Loop() {
		if o := reg.Run(b.Context(), req); o.Status != execution.Completed {
			b.Fatalf("status %s", o.Status)
		}
	}
}

// BenchmarkLocal is core.local running `true`: bash reading the command from a pipe, in a process group.
func BenchmarkLocal(b *testing.B) {
	r := setup(b, builtin.Config{})
	req := request("core.local", `{"cmd": "true"}`)
	for b.Loop() {
		if o := r.Run(b.Context(), req); o.Status != execution.Completed {
			b.Fatalf("status %s, reason %q", o.Status, o.Reason)
		}
	}
}
