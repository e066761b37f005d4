// Package workflow holds the events of a workflow run. A workflow's state is the event stream of
// its parent execution (execution.StreamID): these events sit there beside the parent's
// ExecutionRequested and ExecutionStatusChanged, every task run is a child execution, and
// FromEvents folds them into what the engine needs to decide the next step. Concurrent child
// completions append here with the stream's expected version, so only one of them can
// dispatch a successor (design §3).
package workflow

import (
	"encoding/json"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// Item locates one run of a with-items task: item Index of Count.
type Item struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// WorkflowStarted records the start of a workflow run. Definition is the graph as the
// workflow's action registered it, pinned here so a pack reload mid-run changes nothing.
type WorkflowStarted struct {
	ExecutionID string          `json:"execution_id"`
	Action      string          `json:"action"`
	Definition  json.RawMessage `json:"definition"`
	Input       json.RawMessage `json:"input,omitempty"`
	Vars        json.RawMessage `json:"vars,omitempty"` // initial vars, rendered: an object
}

// EventType is the wire name.
func (WorkflowStarted) EventType() string { return "WorkflowStarted" }

// An activation is one time a task was reached: a start task once at WorkflowStarted, a task
// without join once per transition that names it (a split: Orquesta runs it once per
// arrival), a join once its count of inbound transitions is reached. Activations of a task
// are numbered from 0 in the order of the events that caused them in the parent stream, so
// every engine, and every redelivery, derives the same number, and with it the same child
// execution ids. Events without the field (older logs) are activation 0.

// WorkflowTaskScheduled records one run of a task (one item, one attempt) as a child
// execution, which the engine then requests with ExecutionRequested{parent_id, workflow_task}.
type WorkflowTaskScheduled struct {
	ExecutionID      string          `json:"execution_id"`
	Task             string          `json:"task"`
	Activation       int             `json:"activation,omitempty"` // which activation of the task
	Item             *Item           `json:"item,omitempty"`       // nil unless the task has with-items
	Attempt          int             `json:"attempt"`              // 1, then +1 per retry
	ChildExecutionID string          `json:"child_execution_id"`
	Action           string          `json:"action"`
	Input            json.RawMessage `json:"input,omitempty"` // rendered
	// NotBefore delays the child's request (a task's delay, a retry's backoff).
	NotBefore time.Time `json:"not_before,omitzero"`
	// Held says the run was scheduled while the workflow was held (paused by an operator, or
	// a child waiting for an answer): its child is requested only once the hold lifts.
	Held bool `json:"held,omitempty"`
	// ReusedFrom names the child execution of an earlier workflow (the one this run re-runs,
	// ExecutionRequested.rerun_of) whose result this run reuses: no child is requested, and a
	// WorkflowTaskCompleted with that result follows at once.
	ReusedFrom string `json:"reused_from,omitempty"`
}

// EventType is the wire name.
func (WorkflowTaskScheduled) EventType() string { return "WorkflowTaskScheduled" }

// WorkflowTaskCompleted records that the child execution of one run ended; Status is its
// terminal status.
type WorkflowTaskCompleted struct {
	ExecutionID      string           `json:"execution_id"`
	Task             string           `json:"task"`
	Activation       int              `json:"activation,omitempty"`
	Item             *Item            `json:"item,omitempty"`
	Attempt          int              `json:"attempt"`
	ChildExecutionID string           `json:"child_execution_id"`
	Status           execution.Status `json:"status"`
	Result           json.RawMessage  `json:"result,omitempty"`
}

// EventType is the wire name.
func (WorkflowTaskCompleted) EventType() string { return "WorkflowTaskCompleted" }

// WorkflowTaskRetried records that a failed run will run again (the task's retry clause): the
// next WorkflowTaskScheduled of this task and item carries Attempt+1.
type WorkflowTaskRetried struct {
	ExecutionID string    `json:"execution_id"`
	Task        string    `json:"task"`
	Activation  int       `json:"activation,omitempty"`
	Item        *Item     `json:"item,omitempty"`
	Attempt     int       `json:"attempt"` // the attempt that failed
	Reason      string    `json:"reason"`
	NotBefore   time.Time `json:"not_before,omitzero"`
}

// EventType is the wire name.
func (WorkflowTaskRetried) EventType() string { return "WorkflowTaskRetried" }

// WorkflowTaskTransitioned records that a task finished as a whole (every item, after
// retries): its outcome, the vars its matching transitions published, and the tasks they
// lead to. A join counts how many transitions named it in Next.
type WorkflowTaskTransitioned struct {
	ExecutionID string           `json:"execution_id"`
	Task        string           `json:"task"`
	Activation  int              `json:"activation,omitempty"`
	Status      execution.Status `json:"status"`              // completed, failed, timeout …
	Published   json.RawMessage  `json:"published,omitempty"` // an object: var → value
	Next        []string         `json:"next,omitempty"`
}

// EventType is the wire name.
func (WorkflowTaskTransitioned) EventType() string { return "WorkflowTaskTransitioned" }

// WorkflowCompleted records the end of the run: its output and outcome. It is appended with
// the parent execution's terminal ExecutionStatusChanged.
type WorkflowCompleted struct {
	ExecutionID string           `json:"execution_id"`
	Status      execution.Status `json:"status"`
	Output      json.RawMessage  `json:"output,omitempty"`
	Error       string           `json:"error,omitempty"`
}

// EventType is the wire name.
func (WorkflowCompleted) EventType() string { return "WorkflowCompleted" }

// WorkflowPaused records that an operator paused the workflow: from then on it dispatches
// nothing new (runs scheduled meanwhile are held), its running tasks finish, and its
// running sub-workflows are paused too. It is appended with the parent's move to pausing (a
// task still runs) or paused.
type WorkflowPaused struct {
	ExecutionID string `json:"execution_id"`
	Reason      string `json:"reason"`
}

// EventType is the wire name.
func (WorkflowPaused) EventType() string { return "WorkflowPaused" }

// WorkflowResumed records that an operator resumed the workflow: the operator's hold is
// lifted, its paused sub-workflows are resumed, and, unless a child still waits for an
// answer, the runs held meanwhile are requested.
type WorkflowResumed struct {
	ExecutionID string `json:"execution_id"`
	Reason      string `json:"reason"`
}

// EventType is the wire name.
func (WorkflowResumed) EventType() string { return "WorkflowResumed" }

// WorkflowTaskWaiting records that the child of a run waits: it is pending (an inquiry
// waiting for a person's answer) or paused (a sub-workflow). A waiting child holds the
// workflow as a pause does, until it ends or runs again (WorkflowTaskContinued).
type WorkflowTaskWaiting struct {
	ExecutionID      string           `json:"execution_id"`
	Task             string           `json:"task"`
	Activation       int              `json:"activation,omitempty"`
	Item             *Item            `json:"item,omitempty"`
	Attempt          int              `json:"attempt"`
	ChildExecutionID string           `json:"child_execution_id"`
	Status           execution.Status `json:"status"` // pending or paused
}

// EventType is the wire name.
func (WorkflowTaskWaiting) EventType() string { return "WorkflowTaskWaiting" }

// WorkflowTaskContinued records that a waiting child runs again (a paused sub-workflow was
// resumed).
type WorkflowTaskContinued struct {
	ExecutionID      string `json:"execution_id"`
	Task             string `json:"task"`
	Activation       int    `json:"activation,omitempty"`
	Item             *Item  `json:"item,omitempty"`
	Attempt          int    `json:"attempt"`
	ChildExecutionID string `json:"child_execution_id"`
}

// EventType is the wire name.
func (WorkflowTaskContinued) EventType() string { return "WorkflowTaskContinued" }
