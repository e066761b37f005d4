package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/execution"
)

// maxRetryDelay bounds a retry's wait so that not_before stays a representable time however
// large an exponential backoff grows without max_delay.
const maxRetryDelay = 100 * 365 * 24 * time.Hour

// Ended is what a retry decision needs to know of an execution that reached a terminal status.
type Ended struct {
	ID     string
	Status execution.Status
	// ParentID is set for a workflow task: the workflow's own `retry` governs it, never a policy.
	ParentID string
	// RetryAttempt is which retry of its chain the execution is (0 for the original run).
	RetryAttempt int
	// Retried says the execution's stream already holds an ExecutionRetryScheduled.
	Retried bool
	// Cancelled says someone asked to cancel it (it went through canceling): however it
	// ended, running it again would undo the cancel.
	Cancelled bool
}

// DecideRetry decides whether the Retry policy ref (with spec s) runs the ended execution
// again. ok is false when it does not: the status is not one the policy retries (or not
// terminal), the execution is a workflow task, it was retried already, or its chain has used
// max_retries. The retry's id derives from the ended execution and the attempt, so deciding
// twice names the same execution. One that was being cancelled is never retried; its not_before is now plus the attempt's delay.
func (s RetrySpec) DecideRetry(ref string, x Ended, now time.Time) (ExecutionRetryScheduled, bool, error) {
	if !x.Status.Terminal() || !slices.Contains(s.On, x.Status) || x.ParentID != "" || x.Retried || x.Cancelled {
		return ExecutionRetryScheduled{}, false, nil
	}
	if x.RetryAttempt >= s.MaxRetries {
		return ExecutionRetryScheduled{}, false, nil
	}
	id, err := ulid.Parse(x.ID)
	if err != nil {
		return ExecutionRetryScheduled{}, false, fmt.Errorf("retry execution %q: id: %w", x.ID, err)
	}
	attempt := x.RetryAttempt + 1
	out := ExecutionRetryScheduled{
		ExecutionID:      x.ID,
		RetryExecutionID: RetryID(id, attempt).String(),
		Policy:           ref,
		Attempt:          attempt,
		Reason:           fmt.Sprintf("ended %s: retry %d of %d by policy %s", x.Status, attempt, s.MaxRetries, ref),
	}
	if d := min(s.Delay(attempt), maxRetryDelay); d > 0 {
		out.NotBefore = now.Add(d).UTC()
	}
	return out, true, nil
}

// Retry is the request that carries out a scheduled retry: the failed execution's request
// again (action, parameters, rule context, timeout), as a new execution that names the one it
// retries and its attempt, held back until the retry's not_before.
func (r ExecutionRetryScheduled) Retry(failed execution.ExecutionRequested) (execution.ExecutionRequested, error) {
	if failed.ExecutionID != r.ExecutionID {
		return execution.ExecutionRequested{}, fmt.Errorf("retry of %s scheduled with the request of %s", r.ExecutionID, failed.ExecutionID)
	}
	next := failed
	next.ExecutionID = r.RetryExecutionID
	next.RetryOf = r.ExecutionID
	next.RetryAttempt = r.Attempt
	next.RerunOf = ""
	next.NotBefore = r.NotBefore
	return next, nil
}
