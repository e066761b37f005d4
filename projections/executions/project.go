package executions

import (
	"context"
	"fmt"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/projections/internal/rowfold"
)

// projected lists the wire types this projection reads; every other type is skipped without
// decoding, so event types added to the catalogue later cost nothing here.
var projected = map[string]bool{
	execution.ExecutionRequested{}.EventType():     true,
	execution.ExecutionScheduled{}.EventType():     true,
	execution.ExecutionStatusChanged{}.EventType(): true,
	policy.ExecutionRetryScheduled{}.EventType():   true,
}

// Apply folds one batch of the log into the rows it touches: it loads those rows once,
// applies the events in log order in memory and saves each changed row once, so a batch
// costs two statements however many events it holds.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	changes, ids, err := rowfold.Select(Name, "execution id", batch, projected, executionID)
	if err != nil || len(changes) == 0 {
		return err
	}
	rows, err := s.LoadExecutions(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d executions: %w", Name, len(ids), err)
	}
	for _, c := range changes {
		x, ok := rows[c.ID]
		if !ok {
			x = Execution{ID: c.ID}
		}
		x.apply(c.R, c.E)
		rows[c.ID] = x
	}
	out := make([]Execution, 0, len(ids))
	for _, id := range ids {
		out = append(out, rows[id])
	}
	if err := s.SaveExecutions(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d executions: %w", Name, len(out), err)
	}
	return nil
}

func executionID(e event.Event) string {
	switch e := e.(type) {
	case *execution.ExecutionRequested:
		return e.ExecutionID
	case *execution.ExecutionScheduled:
		return e.ExecutionID
	case *execution.ExecutionStatusChanged:
		return e.ExecutionID
	case *policy.ExecutionRetryScheduled:
		return e.ExecutionID
	}
	return ""
}

// apply records one event. The log is the truth and the domain already checked every
// transition, so the row takes what the event says rather than re-judging it; a row first
// seen through a later event (a log that starts mid-life) is filled in as far as it can be.
func (x *Execution) apply(r eventstore.Recorded, e event.Event) {
	if x.CreatedAt.IsZero() {
		x.CreatedAt = r.RecordedAt
	}
	x.UpdatedAt = r.RecordedAt
	x.Version = r.StreamVersion
	x.Position = r.Position
	if x.TraceTag == "" {
		x.TraceTag = r.Metadata.TraceTag
	}
	switch e := e.(type) {
	case *execution.ExecutionRequested:
		x.CreatedAt = r.RecordedAt
		x.Action = e.Action
		x.RunnerType = e.RunnerType
		x.Parameters = e.Parameters
		x.Enforcement = e.EnforcementID
		x.Rule = e.Rule
		x.Trigger = e.Trigger
		x.TriggerEvent = e.EventID
		x.Parent = e.ParentID
		x.WorkflowTask = e.WorkflowTask
		x.RerunOf = e.RerunOf
		x.RetryOf = e.RetryOf
		x.RetryAttempt = e.RetryAttempt
		if x.Status == "" {
			x.Status = execution.Requested
		}
	case *execution.ExecutionScheduled:
		x.Worker = e.WorkerID
		x.Runtime = e.Runtime
		// The choice of a worker is the scheduled state, whether or not a separate
		// ExecutionStatusChanged follows; never move a row that is already further on.
		switch x.Status {
		case "", execution.Requested, execution.Delayed, execution.Scheduling:
			x.Status = execution.Scheduled
		}
	case *policy.ExecutionRetryScheduled:
		x.RetriedBy = e.RetryExecutionID
	case *execution.ExecutionStatusChanged:
		x.Status = e.To
		if e.Reason != "" {
			x.Reason = e.Reason
		}
		switch {
		case e.To == execution.Scheduling:
			// Waiting for a worker again (its worker left before it started): the one the
			// event names is the one that left, not the one it is on.
			x.Worker, x.Runtime = "", ""
		case e.WorkerID != "":
			x.Worker = e.WorkerID
		}
		if e.To == execution.Running && x.StartedAt.IsZero() {
			x.StartedAt = r.RecordedAt
		}
		if e.To.Terminal() {
			x.FinishedAt = r.RecordedAt
			x.Result = e.Result
			x.ExitCode = e.ExitCode
			x.Stdout = e.Stdout
			x.Stderr = e.Stderr
			x.OutputTruncated = e.OutputTruncated
		}
	}
}
