// Package execution is the execution aggregate: its states, the only transitions allowed
// between them (design §2), and the events that record them.
package execution

import "fmt"

// Status is the state of an execution.
type Status string

// The states of design §2.
const (
	Requested  Status = "requested"
	Delayed    Status = "delayed"
	Scheduling Status = "scheduling"
	Scheduled  Status = "scheduled"
	Running    Status = "running"
	// Pending is an inquiry's execution (core.ask) waiting for a person's answer.
	Pending Status = "pending"
	// Pausing is a workflow that dispatches nothing new while its running tasks finish;
	// Paused is one with nothing running that waits to be resumed (by an operator, or by the
	// answer to its pending inquiry).
	Pausing   Status = "pausing"
	Paused    Status = "paused"
	Canceling Status = "canceling"
	Completed Status = "completed"
	Failed    Status = "failed"
	Timeout   Status = "timeout"
	Cancelled Status = "cancelled"
	Abandoned Status = "abandoned"
)

// Statuses lists every state in lifecycle order.
var Statuses = []Status{Requested, Delayed, Scheduling, Scheduled, Running, Pending, Pausing, Paused, Canceling, Completed, Failed, Timeout, Cancelled, Abandoned}

// transitions is the table of design §2; anything absent is rejected. scheduled → scheduling
// is the way back for an execution whose worker left (or never took it up) before it started
// the run: it never ran, so it is placed again rather than abandoned (WorkerLeft). Pending,
// Pausing and Paused belong to the engine, never a worker: an inquiry goes requested → pending
// and ends when answered (completed), at its ttl (timeout) or on a cancel; a workflow goes
// running → pausing (its running tasks finish, nothing new is dispatched) → paused, and back
// to running on resume or when the inquiry that paused it is answered.
var transitions = map[Status][]Status{
	Requested:  {Delayed, Scheduling, Running, Pending, Failed, Cancelled},
	Delayed:    {Scheduling, Failed, Cancelled},
	Scheduling: {Scheduled, Failed, Cancelled},
	Scheduled:  {Running, Scheduling, Cancelled, Abandoned},
	Running:    {Completed, Failed, Timeout, Canceling, Pausing, Paused, Abandoned},
	Pending:    {Completed, Failed, Timeout, Cancelled},
	Pausing:    {Paused, Running, Canceling, Completed, Failed, Timeout, Abandoned},
	Paused:     {Running, Canceling, Cancelled, Failed, Timeout},
	Canceling:  {Cancelled, Completed, Failed, Timeout, Abandoned},
}

// ParseStatus accepts exactly the names of the states.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown execution status %q", s)
}

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	switch s {
	case Completed, Failed, Timeout, Cancelled, Abandoned:
		return true
	}
	return false
}

// CanTransition reports whether design §2 allows from → to.
func CanTransition(from, to Status) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// TransitionError is returned for a transition the state machine forbids.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("execution cannot go from %s to %s", e.From, e.To)
}

// CheckTransition returns a *TransitionError unless from → to is allowed.
func CheckTransition(from, to Status) error {
	if !CanTransition(from, to) {
		return &TransitionError{From: from, To: to}
	}
	return nil
}
