package execution

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/event"
)

// Execution is one execution folded from its stream. Handlers rebuild it with FromEvents,
// decide with its methods, append what they decided with eventstore.Exact(Version()), and may
// Apply it to go on deciding.
type Execution struct {
	id            string
	action        string
	runnerType    string
	parameters    json.RawMessage
	parentID      string
	workflowTask  string
	enforcementID string
	retryOf       string
	retryAttempt  int
	notBefore     time.Time
	timeout       int
	workerID      string
	runtime       string
	placements    int // ExecutionScheduled folded: how often it was given to a worker
	status        Status
	version       int64
}

// FromEvents folds an execution's stream. The stream must open with ExecutionRequested and
// every ExecutionStatusChanged must leave the status the previous events reached by an
// allowed transition; anything else is refused rather than guessed at. Events of other
// aggregates that share the stream (a workflow's task events, policy decisions) only count
// towards Version.
func FromEvents(events []event.Event) (*Execution, error) {
	if len(events) == 0 {
		return nil, errors.New("fold execution: empty stream")
	}
	x := &Execution{}
	for i, e := range events {
		if err := x.Apply(e); err != nil {
			return nil, fmt.Errorf("fold execution event %d (%s): %w", i+1, e.EventType(), err)
		}
	}
	return x, nil
}

// Apply folds one more event of the stream.
func (x *Execution) Apply(e event.Event) error {
	switch e := e.(type) {
	case *ExecutionRequested:
		return x.Apply(*e)
	case *ExecutionScheduled:
		return x.Apply(*e)
	case *ExecutionStatusChanged:
		return x.Apply(*e)
	}
	if x.status == "" {
		if r, ok := e.(ExecutionRequested); ok {
			return x.requested(r)
		}
		return fmt.Errorf("stream does not open with ExecutionRequested")
	}
	switch e := e.(type) {
	case ExecutionRequested:
		return fmt.Errorf("execution %s requested twice", x.id)
	case ExecutionScheduled:
		if err := x.sameID(e.ExecutionID); err != nil {
			return err
		}
		x.workerID, x.runtime = e.WorkerID, e.Runtime
		x.placements++
	case ExecutionStatusChanged:
		if err := x.sameID(e.ExecutionID); err != nil {
			return err
		}
		if e.From != x.status {
			return fmt.Errorf("execution %s changed from %s, but it was %s", x.id, e.From, x.status)
		}
		if parent, known := e.Parent(); known && parent != x.parentID {
			return fmt.Errorf("execution %s changed naming parent %q, but its parent is %q", x.id, parent, x.parentID)
		}
		if err := CheckTransition(e.From, e.To); err != nil {
			return err
		}
		x.status = e.To
		switch {
		case e.To == Scheduling:
			// Back to waiting for a worker: the one named (the one that left) holds it no more.
			x.workerID, x.runtime = "", ""
		case e.WorkerID != "":
			x.workerID = e.WorkerID
		}
	}
	x.version++
	return nil
}

func (x *Execution) requested(e ExecutionRequested) error {
	if e.ExecutionID == "" || e.Action == "" {
		return fmt.Errorf("execution requested without id or action (id %q, action %q)", e.ExecutionID, e.Action)
	}
	if e.RetryAttempt < 0 || (e.RetryAttempt > 0) != (e.RetryOf != "") {
		return fmt.Errorf("execution %s requested with retry_attempt %d and retry_of %q: want both or neither", e.ExecutionID, e.RetryAttempt, e.RetryOf)
	}
	if e.TimeoutSeconds < 0 {
		return fmt.Errorf("execution %s requested with timeout %ds, want >= 0", e.ExecutionID, e.TimeoutSeconds)
	}
	*x = Execution{
		id:            e.ExecutionID,
		action:        e.Action,
		runnerType:    e.RunnerType,
		parameters:    e.Parameters,
		parentID:      e.ParentID,
		workflowTask:  e.WorkflowTask,
		enforcementID: e.EnforcementID,
		retryOf:       e.RetryOf,
		retryAttempt:  e.RetryAttempt,
		notBefore:     e.NotBefore,
		timeout:       e.TimeoutSeconds,
		status:        Requested,
		version:       1,
	}
	return nil
}

func (x *Execution) sameID(id string) error {
	if id != x.id {
		return fmt.Errorf("event of execution %s in the stream of execution %s", id, x.id)
	}
	return nil
}

// Outcome is what a status change carries besides its target. Result, ExitCode and the
// captured output belong to terminal statuses only.
type Outcome struct {
	Reason          string
	WorkerID        string
	Result          json.RawMessage
	ExitCode        *int
	Stdout, Stderr  string
	OutputTruncated bool
}

// Transition decides the event that moves the execution to status to; a move to canceling
// names the worker the execution is on (none for a workflow's). It returns a
// *TransitionError for a transition design §2 forbids (every one out of a terminal status
// among them), and refuses an outcome on a status that is not terminal.
func (x *Execution) Transition(to Status, o Outcome) (ExecutionStatusChanged, error) {
	if err := CheckTransition(x.status, to); err != nil {
		return ExecutionStatusChanged{}, fmt.Errorf("execution %s: %w", x.id, err)
	}
	if !to.Terminal() && (o.Result != nil || o.ExitCode != nil || o.Stdout != "" || o.Stderr != "" || o.OutputTruncated) {
		return ExecutionStatusChanged{}, fmt.Errorf("execution %s: a result or output belongs to a terminal status, not %s", x.id, to)
	}
	if to == Canceling && o.WorkerID == "" {
		// A cancel is for the worker running the execution: naming it lets the bus address
		// the change to that worker alone.
		o.WorkerID = x.workerID
	}
	parent := x.parentID
	return ExecutionStatusChanged{
		ParentID:        &parent,
		ExecutionID:     x.id,
		From:            x.status,
		To:              to,
		Reason:          o.Reason,
		WorkerID:        o.WorkerID,
		Result:          o.Result,
		ExitCode:        o.ExitCode,
		Stdout:          o.Stdout,
		Stderr:          o.Stderr,
		OutputTruncated: o.OutputTruncated,
	}, nil
}

// MaxPlacements bounds how often an execution is given to a worker. Each time its worker
// leaves before starting the run it is placed again; one whose workers keep leaving (a host
// that dies whenever it is handed this action, say) is abandoned at the limit rather than
// going round for ever.
const MaxPlacements = 5

// WorkerLeft decides what becomes of the execution now that worker workerID has left (why
// says how: "lost: no heartbeat for 6s", "stopped", …). Still scheduled there, it never
// started, so it goes back to scheduling, to be placed again — unless it has been placed
// MaxPlacements times already. Running or canceling there, the run may have happened: it is
// abandoned. ok is false when the execution is not in that worker's hands (settled, or
// placed elsewhere since): nothing to do.
func (x *Execution) WorkerLeft(workerID, why string) (ch ExecutionStatusChanged, ok bool, err error) {
	if workerID == "" || x.workerID != workerID {
		return ExecutionStatusChanged{}, false, nil
	}
	switch x.status {
	case Scheduled:
		return x.PlaceAgain(workerID, fmt.Sprintf("worker %s left (%s) before it started the run", workerID, why))
	case Running, Canceling:
		ch, err = x.Transition(Abandoned, Outcome{WorkerID: workerID, Reason: fmt.Sprintf("worker %s left (%s)", workerID, why)})
		return ch, err == nil, err
	}
	return ExecutionStatusChanged{}, false, nil
}

// PlaceAgain decides scheduled → scheduling for an execution that worker workerID has not
// started and will not (why says so): it never ran, so it waits for a worker again. At
// MaxPlacements it is abandoned instead. ok is false when it is not scheduled on that
// worker (started, settled, or placed elsewhere since): nothing to do.
func (x *Execution) PlaceAgain(workerID, why string) (ch ExecutionStatusChanged, ok bool, err error) {
	if workerID == "" || x.workerID != workerID || x.status != Scheduled {
		return ExecutionStatusChanged{}, false, nil
	}
	to, reason := Scheduling, why+"; placed again"
	if x.placements >= MaxPlacements {
		to, reason = Abandoned, fmt.Sprintf("%s; placed %d times already, given up", why, x.placements)
	}
	ch, err = x.Transition(to, Outcome{WorkerID: workerID, Reason: reason})
	return ch, err == nil, err
}

// ID is the execution's id.
func (x *Execution) ID() string { return x.id }

// Status is the execution's current status.
func (x *Execution) Status() Status { return x.status }

// Action is the ref of the action it runs.
func (x *Execution) Action() string { return x.action }

// RunnerType is the action's runner type as requested.
func (x *Execution) RunnerType() string { return x.runnerType }

// Parameters are the rendered parameters (secrets encrypted or by reference).
func (x *Execution) Parameters() json.RawMessage { return x.parameters }

// ParentID is the workflow execution it is a task of; empty for a top-level execution.
func (x *Execution) ParentID() string { return x.parentID }

// WorkflowTask is the task of the parent workflow it runs; empty for a top-level execution.
func (x *Execution) WorkflowTask() string { return x.workflowTask }

// EnforcementID is the enforcement that requested it; empty when the API or a workflow did.
func (x *Execution) EnforcementID() string { return x.enforcementID }

// RetryOf is the execution this one retries, if a retry policy requested it.
func (x *Execution) RetryOf() string { return x.retryOf }

// RetryAttempt is which retry of its chain this execution is: 0 for the original run.
func (x *Execution) RetryAttempt() int { return x.retryAttempt }

// NotBefore is the earliest time it may be scheduled; zero when it may run at once.
func (x *Execution) NotBefore() time.Time { return x.notBefore }

// TimeoutSeconds is the timeout its request sets, overriding the action's; 0 when it sets none.
func (x *Execution) TimeoutSeconds() int { return x.timeout }

// WorkerID is the worker it was scheduled on (or that reported its last status); empty
// while it waits for one.
func (x *Execution) WorkerID() string { return x.workerID }

// Placements is how often it was given to a worker (ExecutionScheduled events).
func (x *Execution) Placements() int { return x.placements }

// Runtime is the runtime the scheduler chose on that worker.
func (x *Execution) Runtime() string { return x.runtime }

// Version is the number of events folded, i.e. the stream's version.
func (x *Execution) Version() int64 { return x.version }
