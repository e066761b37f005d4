package builtin

import (
	"context"
	"math"
	"time"

	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/execution"
)

// sleep waits for its seconds, or until the timeout or a cancel ends the wait.
func sleep(ctx context.Context, req runtime.Request) runtime.Outcome {
	var p struct {
		Seconds *float64 `json:"seconds"`
	}
	if err := decode(req, &p); err != nil {
		return runtime.Failed("%v", err)
	}
	if p.Seconds == nil || *p.Seconds < 0 || math.IsNaN(*p.Seconds) {
		return runtime.Failed("core.sleep: parameter seconds is required and must be >= 0")
	}
	return wait(ctx, time.Duration(min(*p.Seconds, math.MaxInt64/float64(time.Second))*float64(time.Second)))
}

// wait completes after d, or ends as the timeout or a cancel ends ctx.
func wait(ctx context.Context, d time.Duration) runtime.Outcome {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return runtime.Outcome{Status: execution.Completed}
	case <-ctx.Done():
		status, reason := runtime.Interrupted(ctx)
		return runtime.Outcome{Status: status, Reason: reason}
	}
}
