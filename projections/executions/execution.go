// Package executions is the executions read model: one row per execution, folded from the
// execution events of the log, and the filters and pages the API queries it with. It decides
// which events change which fields; adapters/readmodel stores the rows and runs the queries.
package executions

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/execution"
)

// Name keys the projection's checkpoint and lock: a persisted identifier.
const Name = "projection:executions"

// ErrNotFound is returned for an execution the read model does not hold (yet).
var ErrNotFound = errors.New("execution not found")

// Execution is one row of the read model. Every field derives from the log (timestamps are
// the events' RecordedAt, never the projector's clock), so a rebuild reproduces it exactly.
type Execution struct {
	ID         string
	Action     string
	RunnerType string
	Status     execution.Status
	Parameters json.RawMessage // as requested; secrets are already encrypted or referenced
	Result     json.RawMessage
	ExitCode   *int
	Reason     string // why the last transition that gave one happened
	// Stdout, Stderr and OutputTruncated are the captured output; lists leave them empty.
	Stdout          string
	Stderr          string
	OutputTruncated bool

	Parent       string // the workflow execution this one is a task of
	WorkflowTask string
	Enforcement  string
	Rule         string
	Trigger      string
	TriggerEvent string // the trigger event that caused it
	RerunOf      string
	RetryOf      string
	RetryAttempt int    // which retry of its chain (0: the original run)
	RetriedBy    string // the retry a retry policy scheduled for it
	Worker       string
	Runtime      string
	TraceTag     string

	CreatedAt  time.Time
	StartedAt  time.Time // zero until it runs
	FinishedAt time.Time // zero until it is terminal
	UpdatedAt  time.Time

	Version  int64               // stream version of the last event applied
	Position eventstore.Position // log position of the last event applied
}

// Store loads and saves rows inside the projection's transaction. adapters/readmodel
// implements it; the projector never sees SQL.
type Store interface {
	// LoadExecutions returns the stored rows among ids; absent ids are absent from the map.
	LoadExecutions(ctx context.Context, ids []string) (map[string]Execution, error)
	// SaveExecutions inserts or replaces whole rows.
	SaveExecutions(ctx context.Context, rows []Execution) error
}
