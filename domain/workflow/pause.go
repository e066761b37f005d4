package workflow

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

// A workflow is held while an operator's pause is in force (WorkflowPaused, not yet
// WorkflowResumed) or while a child of it waits (WorkflowTaskWaiting: an inquiry pending, a
// sub-workflow paused). A held workflow dispatches nothing new: runs scheduled meanwhile
// carry held and their children are requested once the hold lifts. Its parent execution's
// status follows from the fold (Steer): running → pausing while runs are still in flight,
// → paused once none is, and back to running when the hold lifts.

// WaitingStatuses are the statuses a waiting child is in (WorkflowTaskWaiting.Status).
var WaitingStatuses = []execution.Status{execution.Pending, execution.Paused}

// Refusal is a pause or resume the workflow's state does not allow. Code is stable, for
// callers to branch on (the API answers it 409 with this code).
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// The codes of a Refusal.
const (
	CodeNotAWorkflow     = "not_a_workflow"     // the execution is no workflow run (or has not started one)
	CodeNotRunning       = "not_running"        // requested, canceling, or ended: nothing to pause
	CodeNotPaused        = "not_paused"         // nothing to resume
	CodeWaitingForAnswer = "waiting_for_answer" // only a child waiting for an answer holds it
)

// Holding reports whether the workflow dispatches nothing new: an operator paused it, or a
// child of it waits.
func (s *State) Holding() bool {
	if s.paused != "" {
		return true
	}
	for _, r := range s.runs {
		if r.Waiting != "" {
			return true
		}
	}
	return false
}

// PausedBy is the reason of the operator's pause in force; "" when none is.
func (s *State) PausedBy() string { return s.paused }

// InFlight lists the runs whose children run: not ended, not held, not waiting.
func (s *State) InFlight() []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Status == "" && !r.Held && r.Waiting == "" {
			out = append(out, r)
		}
	}
	return out
}

// Held lists the runs held until the workflow resumes.
func (s *State) Held() []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Status == "" && r.Held {
			out = append(out, r)
		}
	}
	return out
}

// Waiting lists the runs whose children wait (pending or paused).
func (s *State) Waiting() []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Status == "" && r.Waiting != "" {
			out = append(out, r)
		}
	}
	return out
}

// Run is the run of a child execution, and whether there is one.
func (s *State) Run(child string) (Run, bool) {
	i, ok := s.byChild[child]
	if !ok {
		return Run{}, false
	}
	return s.runs[i], true
}

// Pause decides an operator's pause of the workflow whose parent execution is x: it records
// WorkflowPaused and moves the parent to pausing (a run is still in flight) or paused. A
// workflow paused by an operator already needs nothing (no events); one held by a waiting
// child is paused by the operator too (its status stays), so that the child's answer does
// not resume it.
func (s *State) Pause(x *execution.Execution, reason string) ([]event.Event, error) {
	if err := s.owns(x); err != nil {
		return nil, err
	}
	switch x.Status() {
	case execution.Running, execution.Pausing, execution.Paused:
	default:
		return nil, &Refusal{Code: CodeNotRunning, Message: fmt.Sprintf("workflow %s is %s: only a running workflow can be paused", x.ID(), x.Status())}
	}
	if s.paused != "" {
		return nil, nil
	}
	reason = cmp.Or(reason, "paused")
	out := []event.Event{WorkflowPaused{ExecutionID: s.executionID, Reason: reason}}
	// Steer decides on the state as the pause leaves it; the fold itself changes only when
	// the caller applies what was decided.
	s.paused = reason
	defer func() { s.paused = "" }()
	if ch, ok, err := s.Steer(x); err != nil {
		return nil, err
	} else if ok {
		out = append(out, ch)
	}
	return out, nil
}

// Resume decides an operator's resume: WorkflowResumed lifts the operator's pause, and the
// parent goes back to running unless a child still waits (a paused sub-workflow is resumed
// by the engine, and its running again lifts the hold; an inquiry waits for its answer). A
// workflow held only by a pending inquiry is refused (CodeWaitingForAnswer): answering it
// resumes the workflow.
func (s *State) Resume(x *execution.Execution, reason string) ([]event.Event, error) {
	if err := s.owns(x); err != nil {
		return nil, err
	}
	switch x.Status() {
	case execution.Pausing, execution.Paused:
	default:
		return nil, &Refusal{Code: CodeNotPaused, Message: fmt.Sprintf("workflow %s is %s, not paused", x.ID(), x.Status())}
	}
	pausedChild := false
	var pending []string
	for _, r := range s.Waiting() {
		if r.Waiting == execution.Paused {
			pausedChild = true
		} else {
			pending = append(pending, r.Task)
		}
	}
	if s.paused == "" && !pausedChild {
		if len(pending) > 0 {
			return nil, &Refusal{Code: CodeWaitingForAnswer, Message: fmt.Sprintf(
				"workflow %s waits for the answer to task %s: answering it resumes the workflow", x.ID(), strings.Join(pending, ", "))}
		}
		return nil, &Refusal{Code: CodeNotPaused, Message: fmt.Sprintf("workflow %s is %s, and nothing holds it", x.ID(), x.Status())}
	}
	out := []event.Event{WorkflowResumed{ExecutionID: s.executionID, Reason: reason}}
	was := s.paused
	s.paused = ""
	defer func() { s.paused = was }()
	if ch, ok, err := s.Steer(x); err != nil {
		return nil, err
	} else if ok {
		out = append(out, ch)
	}
	return out, nil
}

func (s *State) owns(x *execution.Execution) error {
	if s.executionID == "" {
		return &Refusal{Code: CodeNotAWorkflow, Message: fmt.Sprintf("execution %s (%s) is not a workflow run", x.ID(), x.Action())}
	}
	if x.ID() != s.executionID {
		return fmt.Errorf("workflow %s decided on the execution %s", s.executionID, x.ID())
	}
	if x.Status().Terminal() || s.status != "" {
		return &Refusal{Code: CodeNotRunning, Message: fmt.Sprintf("workflow %s has ended: %s", x.ID(), x.Status())}
	}
	return nil
}

// Steer decides the status the parent execution x should move to now: running → pausing
// (held, a run in flight) or paused (held, none), pausing → paused once nothing is in flight,
// and pausing or paused → running once nothing holds it. ok is false when x is where it
// should be (or canceling, or ended: a hold does not matter then).
func (s *State) Steer(x *execution.Execution) (ch execution.ExecutionStatusChanged, ok bool, err error) {
	if _, done := s.Done(); done {
		return ch, false, nil
	}
	held, inFlight := s.Holding(), len(s.InFlight()) > 0
	var to execution.Status
	switch x.Status() {
	case execution.Running:
		switch {
		case held && inFlight:
			to = execution.Pausing
		case held:
			to = execution.Paused
		}
	case execution.Pausing:
		switch {
		case !held:
			to = execution.Running
		case !inFlight:
			to = execution.Paused
		}
	case execution.Paused:
		if !held {
			to = execution.Running
		}
	}
	if to == "" {
		return ch, false, nil
	}
	ch, err = x.Transition(to, execution.Outcome{Reason: s.holdReason(to)})
	return ch, err == nil, err
}

// holdReason says why the workflow moves to status to.
func (s *State) holdReason(to execution.Status) string {
	if to == execution.Running {
		return "resumed: nothing holds it any more"
	}
	var why []string
	if s.paused != "" {
		why = append(why, s.paused)
	}
	for _, r := range s.Waiting() {
		what := "waits for an answer"
		if r.Waiting == execution.Paused {
			what = "is a paused workflow"
		}
		why = append(why, fmt.Sprintf("task %s %s (execution %s)", r.Task, what, r.ChildExecutionID))
	}
	reason := strings.Join(why, "; ")
	if to == execution.Pausing {
		reason += fmt.Sprintf("; %d task run(s) still in flight", len(s.InFlight()))
	}
	return reason
}
