// Package workflows is the workflow tree read model: one row per workflow run (its status,
// vars, output and the transitions its tasks took) and one row per task run (one item, one
// attempt, one child execution), folded from the workflow events of the parent execution's
// stream (domain/workflow). Children are ordinary executions: the tree joins their rows
// from the executions read model when it is queried (Build), so a child's live status is
// as current as that projection.
package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:workflows"

// ErrNotFound is returned for an execution that is not a workflow the read model holds.
var ErrNotFound = errors.New("workflow not found")

// RunStatus is where one task run stands, in the words of the workflow language
// (succeeded(), failed(), timed_out()).
type RunStatus string

// The run statuses.
const (
	Scheduled RunStatus = "scheduled" // its child execution has not ended
	Succeeded RunStatus = "succeeded"
	Failed    RunStatus = "failed"
	TimedOut  RunStatus = "timed_out"
	Cancelled RunStatus = "cancelled"
	Abandoned RunStatus = "abandoned"
)

// RunStatusOf names the outcome of a run whose child execution ended with s.
func RunStatusOf(s execution.Status) RunStatus {
	switch s {
	case execution.Completed:
		return Succeeded
	case execution.Timeout:
		return TimedOut
	case execution.Cancelled:
		return Cancelled
	case execution.Abandoned:
		return Abandoned
	case "":
		return Scheduled
	}
	return Failed
}

// Workflow is one workflow run: a row per parent execution that started one.
type Workflow struct {
	ID          string // the parent execution's id
	Action      string
	Status      execution.Status // running until WorkflowCompleted says how it ended
	Error       string
	Vars        json.RawMessage // an object: the initial vars overwritten by every publish, in order
	Output      json.RawMessage
	Transitions []Transition // in the order the tasks finished
	StartedAt   time.Time    // zero when the log holds no WorkflowStarted for it
	FinishedAt  time.Time
	UpdatedAt   time.Time
	Version     int64 // stream version of the last workflow event applied
	Position    eventstore.Position
}

// Transition is how one task finished as a whole: its outcome, what it published, where
// it led.
type Transition struct {
	Task      string           `json:"task"`
	Status    execution.Status `json:"status"`
	Published json.RawMessage  `json:"published,omitempty"`
	Next      []string         `json:"next,omitempty"`
	At        time.Time        `json:"at"`
}

// Run is one run of a task: a row per child execution.
type Run struct {
	ChildID     string // the child execution: the run's identity
	WorkflowID  string
	Task        string
	Item        *workflow.Item // nil unless the task has with-items
	Attempt     int
	Action      string
	Status      RunStatus
	Result      json.RawMessage
	Retried     bool // a WorkflowTaskRetried followed its failure: attempt+1 runs next
	RetryReason string
	// Held says the run was scheduled while its workflow was held: its child is requested
	// only once the hold lifts (the tree shows it held while no child exists).
	Held bool
	// ReusedFrom is the child execution of the re-run workflow whose result the run reuses.
	ReusedFrom  string
	NotBefore   time.Time // the child is requested no earlier (delay, retry backoff)
	ScheduledAt time.Time
	FinishedAt  time.Time
	UpdatedAt   time.Time
	// ScheduledPosition is where the run was scheduled in the log: a workflow's runs are
	// shown in that order, the engine's.
	ScheduledPosition eventstore.Position
	Position          eventstore.Position // of the last event applied
}

// RunRef finds the runs a WorkflowTaskRetried may name: every item of one attempt of one
// task of one workflow.
type RunRef struct {
	WorkflowID string
	Task       string
	Attempt    int
}

// Store loads and saves rows inside the projection's transaction (adapters/readmodel).
type Store interface {
	// LoadWorkflows returns the stored rows among ids; absent ids are absent from the map.
	LoadWorkflows(ctx context.Context, ids []string) (map[string]Workflow, error)
	SaveWorkflows(ctx context.Context, rows []Workflow) error
	// LoadWorkflowRuns returns the runs whose child is among children or that match one of
	// refs, by child id.
	LoadWorkflowRuns(ctx context.Context, children []string, refs []RunRef) (map[string]Run, error)
	SaveWorkflowRuns(ctx context.Context, rows []Run) error
}
