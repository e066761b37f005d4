package workflow

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

// Run is one run of a task: one item, one attempt, one child execution.
type Run struct {
	Task             string
	Activation       int // which activation of the task the run belongs to
	Item             *Item
	Attempt          int
	ChildExecutionID string
	Action           string
	Status           execution.Status // empty while the child has not ended
	Result           json.RawMessage
	Retried          bool // a WorkflowTaskRetried followed this run's failure
	// Held says the run was scheduled while the workflow was held and its child is not to be
	// requested yet; the hold's end releases it.
	Held bool
	// Waiting is the status its child waits in (pending: an inquiry; paused: a
	// sub-workflow); empty while it runs or once it ended.
	Waiting execution.Status
	// ReusedFrom is the child execution of an earlier workflow whose result the run reuses.
	ReusedFrom string
}

// State is a workflow run folded from its parent execution's stream: which tasks ran, with
// which item and attempt, how they ended, and which vars were published. Events of the stream
// that are not workflow events (the parent's own execution events) only count towards Version.
type State struct {
	executionID string
	action      string
	definition  json.RawMessage
	runs        []Run
	byChild     map[string]int // child execution id → index in runs
	vars        map[string]json.RawMessage
	inbound     map[string]int
	outcomes    map[string]execution.Status
	status      execution.Status // set by WorkflowCompleted
	paused      string           // the reason of an operator's pause not resumed since; "" when none
	version     int64
}

// FromEvents folds a parent execution's stream. It fails on a stream no engine could have
// written (a completion of an unknown child, a task after the end …) rather than guess.
func FromEvents(events []event.Event) (*State, error) {
	s := &State{
		byChild:  map[string]int{},
		vars:     map[string]json.RawMessage{},
		inbound:  map[string]int{},
		outcomes: map[string]execution.Status{},
	}
	for i, e := range events {
		if err := s.Apply(e); err != nil {
			return nil, fmt.Errorf("fold workflow event %d (%s): %w", i+1, e.EventType(), err)
		}
	}
	return s, nil
}

// Apply folds one more event of the stream, e.g. one the caller has just decided and appended.
func (s *State) Apply(e event.Event) error {
	switch e := e.(type) {
	case *WorkflowStarted:
		return s.Apply(*e)
	case *WorkflowTaskScheduled:
		return s.Apply(*e)
	case *WorkflowTaskCompleted:
		return s.Apply(*e)
	case *WorkflowTaskRetried:
		return s.Apply(*e)
	case *WorkflowTaskTransitioned:
		return s.Apply(*e)
	case *WorkflowCompleted:
		return s.Apply(*e)
	case *WorkflowPaused:
		return s.Apply(*e)
	case *WorkflowResumed:
		return s.Apply(*e)
	case *WorkflowTaskWaiting:
		return s.Apply(*e)
	case *WorkflowTaskContinued:
		return s.Apply(*e)
	}
	var err error
	switch e := e.(type) {
	case WorkflowStarted:
		err = s.started(e)
	case WorkflowTaskScheduled:
		err = s.scheduled(e)
	case WorkflowTaskCompleted:
		err = s.completed(e)
	case WorkflowTaskRetried:
		err = s.retried(e)
	case WorkflowTaskTransitioned:
		err = s.transitioned(e)
	case WorkflowCompleted:
		err = s.ended(e)
	case WorkflowPaused:
		err = s.pausedBy(e)
	case WorkflowResumed:
		err = s.resumed(e)
	case WorkflowTaskWaiting:
		err = s.waiting(e)
	case WorkflowTaskContinued:
		err = s.continued(e)
	}
	if err != nil {
		return err
	}
	s.version++
	return nil
}

func (s *State) started(e WorkflowStarted) error {
	if s.executionID != "" {
		return errors.New("workflow started twice")
	}
	if e.ExecutionID == "" {
		return errors.New("workflow started without an execution id")
	}
	vars, err := object(e.Vars)
	if err != nil {
		return fmt.Errorf("initial vars: %w", err)
	}
	s.executionID, s.action, s.definition, s.vars = e.ExecutionID, e.Action, e.Definition, vars
	return nil
}

// check refuses a workflow event before the start, after the end, or of another run.
func (s *State) check(executionID string) error {
	switch {
	case s.executionID == "":
		return errors.New("workflow event before WorkflowStarted")
	case executionID != s.executionID:
		return fmt.Errorf("event of workflow %s in the stream of workflow %s", executionID, s.executionID)
	case s.status != "":
		return fmt.Errorf("workflow event after WorkflowCompleted (%s)", s.status)
	}
	return nil
}

func (s *State) scheduled(e WorkflowTaskScheduled) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	if e.Attempt < 1 {
		return fmt.Errorf("task %s scheduled with attempt %d", e.Task, e.Attempt)
	}
	if _, dup := s.byChild[e.ChildExecutionID]; dup {
		return fmt.Errorf("child execution %s scheduled twice", e.ChildExecutionID)
	}
	switch {
	case e.ReusedFrom != "" && e.Held:
		return fmt.Errorf("task %s: a reused run is never held", e.Task)
	case e.ReusedFrom == "" && e.Held != s.Holding():
		return fmt.Errorf("task %s scheduled with held %t while the workflow is held: %t", e.Task, e.Held, s.Holding())
	}
	s.byChild[e.ChildExecutionID] = len(s.runs)
	s.runs = append(s.runs, Run{
		Task: e.Task, Activation: e.Activation, Item: e.Item, Attempt: e.Attempt, ChildExecutionID: e.ChildExecutionID, Action: e.Action,
		Held: e.Held, ReusedFrom: e.ReusedFrom,
	})
	return nil
}

func (s *State) completed(e WorkflowTaskCompleted) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	i, ok := s.byChild[e.ChildExecutionID]
	if !ok {
		return fmt.Errorf("completion of child %s, which was never scheduled", e.ChildExecutionID)
	}
	r := &s.runs[i]
	switch {
	case r.Status != "":
		return fmt.Errorf("child %s completed twice", e.ChildExecutionID)
	case r.Task != e.Task || r.Activation != e.Activation || r.Attempt != e.Attempt || !sameItem(r.Item, e.Item):
		return fmt.Errorf("child %s completed as task %s activation %d attempt %d, scheduled as task %s activation %d attempt %d",
			e.ChildExecutionID, e.Task, e.Activation, e.Attempt, r.Task, r.Activation, r.Attempt)
	case !e.Status.Terminal():
		return fmt.Errorf("child %s completed with non-terminal status %q", e.ChildExecutionID, e.Status)
	}
	r.Status, r.Result, r.Held, r.Waiting = e.Status, e.Result, false, ""
	s.release()
	return nil
}

func (s *State) pausedBy(e WorkflowPaused) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	if s.paused != "" {
		return errors.New("workflow paused twice")
	}
	s.paused = cmp.Or(e.Reason, "paused")
	return nil
}

func (s *State) resumed(e WorkflowResumed) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	s.paused = ""
	s.release()
	return nil
}

// run finds the pending run of a child for a waiting or continued event.
func (s *State) run(executionID, child, task string, activation, attempt int, item *Item) (*Run, error) {
	if err := s.check(executionID); err != nil {
		return nil, err
	}
	i, ok := s.byChild[child]
	if !ok {
		return nil, fmt.Errorf("child %s was never scheduled", child)
	}
	r := &s.runs[i]
	switch {
	case r.Task != task || r.Activation != activation || r.Attempt != attempt || !sameItem(r.Item, item):
		return nil, fmt.Errorf("child %s named as task %s activation %d attempt %d, scheduled as task %s activation %d attempt %d",
			child, task, activation, attempt, r.Task, r.Activation, r.Attempt)
	case r.Status != "":
		return nil, fmt.Errorf("child %s ended already (%s)", child, r.Status)
	case r.Held:
		return nil, fmt.Errorf("child %s is held: it was never requested", child)
	}
	return r, nil
}

func (s *State) waiting(e WorkflowTaskWaiting) error {
	r, err := s.run(e.ExecutionID, e.ChildExecutionID, e.Task, e.Activation, e.Attempt, e.Item)
	if err != nil {
		return err
	}
	if !slices.Contains(WaitingStatuses, e.Status) {
		return fmt.Errorf("child %s waits in %q, want pending or paused", e.ChildExecutionID, e.Status)
	}
	r.Waiting = e.Status
	return nil
}

func (s *State) continued(e WorkflowTaskContinued) error {
	r, err := s.run(e.ExecutionID, e.ChildExecutionID, e.Task, e.Activation, e.Attempt, e.Item)
	if err != nil {
		return err
	}
	if r.Waiting == "" {
		return fmt.Errorf("child %s continued but was not waiting", e.ChildExecutionID)
	}
	r.Waiting = ""
	s.release()
	return nil
}

// release lets the held runs go once nothing holds the workflow.
func (s *State) release() {
	if s.Holding() {
		return
	}
	for i := range s.runs {
		s.runs[i].Held = false
	}
}

func (s *State) retried(e WorkflowTaskRetried) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	for i := len(s.runs) - 1; i >= 0; i-- {
		r := &s.runs[i]
		if r.Task != e.Task || r.Activation != e.Activation || r.Attempt != e.Attempt || !sameItem(r.Item, e.Item) {
			continue
		}
		if r.Status == "" || r.Status == execution.Completed || r.Retried {
			return fmt.Errorf("retry of task %s attempt %d, which is %q (retried: %t)", e.Task, e.Attempt, r.Status, r.Retried)
		}
		r.Retried = true
		return nil
	}
	return fmt.Errorf("retry of task %s attempt %d, which never ran", e.Task, e.Attempt)
}

func (s *State) transitioned(e WorkflowTaskTransitioned) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	if !e.Status.Terminal() {
		return fmt.Errorf("task %s transitioned with non-terminal status %q", e.Task, e.Status)
	}
	published, err := object(e.Published)
	if err != nil {
		return fmt.Errorf("vars published by task %s: %w", e.Task, err)
	}
	maps.Copy(s.vars, published)
	for _, next := range e.Next {
		s.inbound[next]++
	}
	s.outcomes[e.Task] = e.Status
	return nil
}

func (s *State) ended(e WorkflowCompleted) error {
	if err := s.check(e.ExecutionID); err != nil {
		return err
	}
	if !e.Status.Terminal() {
		return fmt.Errorf("workflow completed with non-terminal status %q", e.Status)
	}
	s.status = e.Status
	return nil
}

// object decodes an optional JSON object of vars.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if len(raw) == 0 {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	return out, nil
}

func sameItem(a, b *Item) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ExecutionID is the parent execution's id; empty before WorkflowStarted.
func (s *State) ExecutionID() string { return s.executionID }

// Action is the workflow action's ref.
func (s *State) Action() string { return s.action }

// Definition is the workflow graph pinned at the start.
func (s *State) Definition() json.RawMessage { return s.definition }

// Runs lists every run of task, in the order they were scheduled.
func (s *State) Runs(task string) []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Task == task {
			out = append(out, r)
		}
	}
	return out
}

// Pending lists the runs whose child execution has not ended, in scheduling order.
func (s *State) Pending() []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Status == "" {
			out = append(out, r)
		}
	}
	return out
}

// Vars returns the workflow's vars: the initial ones overwritten by every publish, in order.
func (s *State) Vars() map[string]json.RawMessage { return maps.Clone(s.vars) }

// Inbound counts the transitions that named task as next: what a join waits on.
func (s *State) Inbound(task string) int { return s.inbound[task] }

// Outcome is how task last finished, and whether it has.
func (s *State) Outcome(task string) (execution.Status, bool) {
	st, ok := s.outcomes[task]
	return st, ok
}

// Finished lists the tasks that have finished at least once, sorted.
func (s *State) Finished() []string { return slices.Sorted(maps.Keys(s.outcomes)) }

// Done is the workflow's outcome, and whether WorkflowCompleted was recorded.
func (s *State) Done() (execution.Status, bool) { return s.status, s.status != "" }

// Version counts every event folded, workflow or not: append the next decision with
// eventstore.Exact(Version()) so a concurrent completion cannot slip in between.
func (s *State) Version() int64 { return s.version }
