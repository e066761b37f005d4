package request

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// NotFinishedError refuses to re-run a workflow from a task while it still runs (API: 409
// not_finished): what it would reuse is not settled yet.
type NotFinishedError struct {
	ID     string
	Status execution.Status
}

func (e *NotFinishedError) Error() string {
	return fmt.Sprintf("execution %s is %s: a workflow is re-run from a task once it has ended", e.ID, e.Status)
}

// RerunFrom is a re-run of a workflow from one of its tasks.
type RerunFrom struct {
	ExecutionID string
	// Task is where the new run starts: the tasks that finished before it in the original
	// are not run again, their results and published vars are reused.
	Task string
	// FailedItems, for a with-items task, runs only its items that did not complete.
	FailedItems bool
	Overrides   json.RawMessage // parameters laid over the original's, at the top level
	Actor       string
}

// RerunFromTask records a new workflow execution that re-runs an ended one from a task
// (ExecutionRequested with rerun_of and rerun_from_task; the workflow engine does the rest).
// It refuses, naming the field, a task the workflow does not have or that never ran, and
// failed items of a task without with-items or without a failed item (*ValidationError);
// a workflow still running (*NotFinishedError); an execution that is no workflow run.
func RerunFromTask(ctx context.Context, log Log, catalog Catalog, box *secret.Box, r RerunFrom) (string, error) {
	recorded, err := log.ReadStream(ctx, execution.StreamID(r.ExecutionID))
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: %w", r.ExecutionID, err)
	}
	if len(recorded) == 0 {
		return "", fmt.Errorf("re-run execution %s: %w", r.ExecutionID, ErrUnknownExecution)
	}
	events := make([]event.Event, 0, len(recorded))
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			return "", fmt.Errorf("re-run execution %s: %w", r.ExecutionID, err)
		}
		events = append(events, e)
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: %w", r.ExecutionID, err)
	}
	st, err := workflow.FromEvents(events)
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: %w", r.ExecutionID, err)
	}
	if st.ExecutionID() == "" {
		return "", &ValidationError{Field: "from_task", Reason: fmt.Sprintf("execution %s (%s) is not a workflow run: it has no tasks to re-run from", x.ID(), x.Action())}
	}
	if !x.Status().Terminal() {
		return "", &NotFinishedError{ID: x.ID(), Status: x.Status()}
	}
	def, err := workflowdef.Parse(st.Definition())
	if err != nil {
		return "", fmt.Errorf("re-run execution %s: its pinned definition: %w", x.ID(), err)
	}
	t, ok := def.Task(r.Task)
	if !ok {
		return "", &ValidationError{Field: "from_task", Reason: fmt.Sprintf("workflow %s has no task %q (tasks: %v)", x.Action(), r.Task, def.Tasks())}
	}
	runs := st.Runs(r.Task)
	if len(runs) == 0 {
		return "", &ValidationError{Field: "from_task", Reason: fmt.Sprintf("task %s never ran in execution %s: nothing to re-run from", r.Task, x.ID())}
	}
	if r.FailedItems {
		if !t.WithItems() {
			return "", &ValidationError{Field: "failed_items", Reason: fmt.Sprintf("task %s has no with-items: there are no items to re-run", r.Task)}
		}
		failed := 0
		for _, run := range runs {
			if run.Activation == runs[0].Activation && run.Status != "" && run.Status != execution.Completed && !run.Retried {
				failed++
			}
		}
		if failed == 0 {
			return "", &ValidationError{Field: "failed_items", Reason: fmt.Sprintf("task %s has no failed items in execution %s", r.Task, x.ID())}
		}
	}
	first := events[0].(*execution.ExecutionRequested) // FromEvents checked the stream opens with it
	params, err := merge(first.Parameters, r.Overrides)
	if err != nil {
		return "", err
	}
	req := Run{Action: first.Action, Parameters: params, Actor: r.Actor, TraceTag: recorded[0].Metadata.TraceTag}
	res, err := request(ctx, log, catalog, box, req, link{rerunOf: x.ID(), fromTask: r.Task, failedItems: r.FailedItems})
	return res.ID, err
}
