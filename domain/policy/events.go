package policy

import (
	"math"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/ident"
)

// Policy decisions are appended to the stream of the execution they decide about
// (execution.StreamID), in the same batch as the ExecutionStatusChanged they explain, so the
// decision and its effect commit together and a redelivered message finds the decision made.

// ExecutionDelayed records that a policy holds an execution back; it is appended with the
// transition requested → delayed. The execution waits until the policy admits it (delayed →
// scheduling) or Deadline passes (delayed → failed): nothing waits forever. Without Policy
// it is the request's own not_before (a workflow task's delay, a retry's backoff) that holds
// it: the reaper releases it at Until.
type ExecutionDelayed struct {
	ExecutionID string `json:"execution_id"`
	Policy      string `json:"policy,omitempty"` // the policy's ref; empty for a not_before hold
	PolicyType  Type   `json:"policy_type,omitempty"`
	Reason      string `json:"reason"`
	// Key is the value of the policy's attributes for this execution: the queue it waits in.
	Key string `json:"key,omitempty"`
	// Until is the earliest moment the policy may admit it (a rate limit's next window).
	Until time.Time `json:"until,omitzero"`
	// Deadline is when a still-delayed execution fails.
	Deadline time.Time `json:"deadline,omitzero"`
}

// EventType is the wire name.
func (ExecutionDelayed) EventType() string { return "ExecutionDelayed" }

// ExecutionRefused records that a policy in Cancel mode turned an execution away; it is
// appended with the transition requested → cancelled.
type ExecutionRefused struct {
	ExecutionID string `json:"execution_id"`
	Policy      string `json:"policy"`
	PolicyType  Type   `json:"policy_type"`
	Reason      string `json:"reason"`
	Key         string `json:"key,omitempty"`
}

// EventType is the wire name.
func (ExecutionRefused) EventType() string { return "ExecutionRefused" }

// ExecutionRetryScheduled records, in the stream of an execution that ended failed, timeout or
// abandoned, that a Retry policy runs the action again as RetryExecutionID (whose
// ExecutionRequested carries retry_of). Appending it with the stream's expected version makes
// the decision once, however often the terminal status is delivered.
type ExecutionRetryScheduled struct {
	ExecutionID      string    `json:"execution_id"`
	RetryExecutionID string    `json:"retry_execution_id"`
	Policy           string    `json:"policy"`
	Attempt          int       `json:"attempt"` // 1 for the first retry
	Reason           string    `json:"reason"`
	NotBefore        time.Time `json:"not_before,omitzero"`
}

// EventType is the wire name.
func (ExecutionRetryScheduled) EventType() string { return "ExecutionRetryScheduled" }

// RetryID is the id of the execution that retries failed for the attempt-th time.
func RetryID(failed ulid.ULID, attempt int) ulid.ULID {
	return ident.Derive(failed, "retry", strconv.Itoa(attempt))
}

// Delay is how long retry number attempt (1-based) waits after the failure.
func (s RetrySpec) Delay(attempt int) time.Duration {
	limit := time.Duration(math.MaxInt64)
	if s.MaxDelaySeconds > 0 {
		limit = time.Duration(s.MaxDelaySeconds) * time.Second
	}
	d := min(time.Duration(s.DelaySeconds)*time.Second, limit)
	if s.Backoff != Exponential {
		return d
	}
	for i := 1; i < attempt && d < limit; i++ {
		if d > limit/2 { // doubling would pass the cap, or overflow: saturate
			return limit
		}
		d *= 2
	}
	return d
}
