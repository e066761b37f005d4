package builtin

import (
	"context"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// echo returns its message in the shape StackStorm's core.echo (a local-shell-cmd running
// echo) gives — {stdout, stderr, return_code, succeeded, failed} — so that `result().stdout`
// and `result().succeeded` read the same there and here; the message is its stdout too.
func echo(_ context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		Message *string `json:"message"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	if p.Message == nil {
		return runtime.Failed("core.echo: parameter message is required")
	}
	zero := 0
	res, err := result(localResult{Stdout: *p.Message, ReturnCode: &zero, Succeeded: true})
	if err != nil {
		return runtime.Failed("core.echo: %v", err)
	}
	return runtime.Outcome{Status: execution.Completed, Result: res, Stdout: *p.Message}
}
