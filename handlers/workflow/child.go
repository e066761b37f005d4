package workflow

import (
	"math"
	"time"
)

// timeoutSeconds is a task's timeout as the whole seconds ExecutionRequested carries, rounded
// up so that a sub-second timeout still bounds the run; 0 (the action's own timeout) when the
// task sets none.
func timeoutSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(min(math.Ceil(d.Seconds()), math.MaxInt32))
}

// timeoutSeconds is the timeout of the named task for its child's request.
func (f *flow) timeoutSeconds(task string) int {
	if f.def == nil {
		return 0
	}
	t, ok := f.def.Task(task)
	if !ok {
		return 0
	}
	return timeoutSeconds(t.Timeout)
}
