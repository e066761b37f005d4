package execution

import (
	"encoding/json"
	"time"
)

// StreamID is the stream that holds one execution's whole life.
func StreamID(executionID string) string { return "execution-" + executionID }

// ExecutionRequested records that an action should run: from a rule (enforcement), the API, or a
// workflow (parent). Parameters are rendered and, for secret parameters, already encrypted or
// replaced by a reference: the log never holds a secret in plaintext.
type ExecutionRequested struct {
	ExecutionID   string          `json:"execution_id"`
	Action        string          `json:"action"`
	RunnerType    string          `json:"runner_type,omitempty"`
	Parameters    json.RawMessage `json:"parameters,omitempty"`
	EnforcementID string          `json:"enforcement_id,omitempty"`
	Rule          string          `json:"rule,omitempty"`
	Trigger       string          `json:"trigger,omitempty"`
	EventID       string          `json:"event_id,omitempty"`
	ParentID      string          `json:"parent_id,omitempty"`
	WorkflowTask  string          `json:"workflow_task,omitempty"`
	RerunOf       string          `json:"rerun_of,omitempty"`
	RetryOf       string          `json:"retry_of,omitempty"`
	// RetryAttempt numbers a retry in its chain (1 for the first retry of the original run);
	// set with RetryOf, so the next failure knows how many retries the chain has used.
	RetryAttempt int `json:"retry_attempt,omitempty"`
	// RerunFromTask, with RerunOf naming an ended workflow run, re-runs that workflow from
	// this task: the tasks that finished before it in the original are not run again, their
	// results and published vars are reused. RerunFailedItems, for a with-items task, runs
	// again only its items that did not complete, reusing the others' results.
	RerunFromTask    string `json:"rerun_from_task,omitempty"`
	RerunFailedItems bool   `json:"rerun_failed_items,omitempty"`
	// NotBefore holds the execution back until then (a workflow task's delay, a retry's
	// backoff): the scheduler moves it to delayed, and the reaper releases it at that time.
	NotBefore time.Time `json:"not_before,omitzero"`
	// TimeoutSeconds overrides the action's timeout for this run; 0 keeps the action's.
	TimeoutSeconds int `json:"timeout,omitempty"`
}

// EventType is the wire name.
func (ExecutionRequested) EventType() string { return "ExecutionRequested" }

// ExecutionScheduled records the worker chosen to run the execution.
type ExecutionScheduled struct {
	ExecutionID string `json:"execution_id"`
	WorkerID    string `json:"worker_id"`
	Runtime     string `json:"runtime"`
}

// EventType is the wire name.
func (ExecutionScheduled) EventType() string { return "ExecutionScheduled" }

// ExecutionStatusChanged records a transition of the state machine. Terminal transitions carry
// the outcome: result, exit code, captured output.
type ExecutionStatusChanged struct {
	ExecutionID     string          `json:"execution_id"`
	From            Status          `json:"from"`
	To              Status          `json:"to"`
	Reason          string          `json:"reason,omitempty"`
	WorkerID        string          `json:"worker_id,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	ExitCode        *int            `json:"exit_code,omitempty"`
	Stdout          string          `json:"stdout,omitempty"`
	Stderr          string          `json:"stderr,omitempty"`
	OutputTruncated bool            `json:"output_truncated,omitempty"`
	// ParentID repeats the request's parent_id, so that a consumer learns from the change
	// itself whether the execution is a workflow's task: "" for a top-level execution. It is
	// nil (absent) only in changes recorded before it was added, where the stream must be
	// read to know. Transition always sets it.
	ParentID *string `json:"parent_id,omitempty"`
}

// EventType is the wire name.
func (ExecutionStatusChanged) EventType() string { return "ExecutionStatusChanged" }

// Parent reports the parent the change names, and whether it names one at all (false for
// a change recorded before ParentID existed: read the stream).
func (e ExecutionStatusChanged) Parent() (parentID string, known bool) {
	if e.ParentID == nil {
		return "", false
	}
	return *e.ParentID, true
}
