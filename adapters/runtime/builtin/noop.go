package builtin

import (
	"context"
	"encoding/json"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// noop does nothing and completes with the empty object as its result.
func noop(context.Context, runtime.Request) runtime.Outcome {
	return runtime.Outcome{Status: execution.Completed, Result: json.RawMessage("{}")}
}
