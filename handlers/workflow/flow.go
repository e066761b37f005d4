package workflow

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// flow is a parent stream folded for the engine: the parent execution, the workflow state,
// and what the engine derives from them that domain/workflow does not keep (each task's
// activations, its result, the failures no transition handled, each run's input).
type flow struct {
	parent *execution.Execution
	st     *workflow.State
	def    *workflowdef.Workflow // nil before WorkflowStarted
	params map[string]any

	activated map[string]int              // task → activations begun: the number of the next one
	results   map[string]any              // task → result of its last finished activation
	statuses  map[string]execution.Status // task → how its last finished activation ended
	unhandled []string                    // failures of tasks that no transition handled
	failures  []workflowdef.TaskError     // the same, with each task and its result
	inputs    map[string]json.RawMessage  // child execution id → rendered input
	notBefore map[string]time.Time        // child execution id → its request's not_before
	ended     map[activationOf]bool       // the activations that transitioned
}

// activationOf names one activation of a task.
type activationOf struct {
	task       string
	activation int
}

func fold(events []event.Event) (*flow, error) {
	parent, err := execution.FromEvents(events)
	if err != nil {
		return nil, err
	}
	st, err := workflow.FromEvents(nil)
	if err != nil {
		return nil, err
	}
	f := &flow{
		parent:    parent,
		st:        st,
		activated: map[string]int{},
		results:   map[string]any{},
		statuses:  map[string]execution.Status{},
		inputs:    map[string]json.RawMessage{},
		notBefore: map[string]time.Time{},
		ended:     map[activationOf]bool{},
	}
	for i, e := range events {
		if err := f.observe(e); err != nil {
			return nil, fmt.Errorf("fold workflow event %d (%s): %w", i+1, e.EventType(), err)
		}
	}
	return f, nil
}

// apply folds an event the engine has just decided, as fold would have.
func (f *flow) apply(e event.Event) error {
	if err := f.parent.Apply(e); err != nil {
		return err
	}
	return f.observe(e)
}

func (f *flow) observe(e event.Event) error {
	if tr, ok := e.(*workflow.WorkflowTaskTransitioned); ok {
		e = *tr
	}
	var arrivals []arrival
	if tr, ok := e.(workflow.WorkflowTaskTransitioned); ok && f.def != nil {
		arrivals = f.arrivals(tr.Next) // counted against the inbound transitions before this one
	}
	if err := f.st.Apply(e); err != nil {
		return err
	}
	for _, a := range arrivals {
		f.activated[a.task]++
	}
	switch e := e.(type) {
	case *workflow.WorkflowStarted:
		return f.started(e.Definition, e.Input)
	case workflow.WorkflowStarted:
		return f.started(e.Definition, e.Input)
	case *workflow.WorkflowTaskScheduled:
		f.inputs[e.ChildExecutionID] = e.Input
		f.notBefore[e.ChildExecutionID] = e.NotBefore
	case workflow.WorkflowTaskScheduled:
		f.inputs[e.ChildExecutionID] = e.Input
		f.notBefore[e.ChildExecutionID] = e.NotBefore
	case workflow.WorkflowTaskTransitioned:
		return f.transitioned(e)
	}
	return nil
}

func (f *flow) started(definition, input json.RawMessage) error {
	def, err := workflowdef.Parse(definition)
	if err != nil {
		return fmt.Errorf("definition pinned by WorkflowStarted: %w", err)
	}
	params, err := workflowdef.Decode(input)
	if err != nil {
		return fmt.Errorf("workflow input: %w", err)
	}
	f.def, f.params = def, params
	for _, name := range def.Start() {
		f.activated[name]++
	}
	return nil
}

// arrival is a transition reaching a task that it activates, with the activation's number.
type arrival struct {
	task       string
	activation int
}

// arrivals lists the activations a transition leading to next causes, given the transitions
// recorded so far: a task without join is activated by each one (a split runs it once per
// arrival, as Orquesta does), a join by the one that reaches its count. Numbers follow the
// order of the arrivals in the stream, so every fold of it derives the same ones.
func (f *flow) arrivals(next []string) []arrival {
	inbound := map[string]int{}
	added := map[string]int{}
	var out []arrival
	for _, n := range next {
		if _, seen := inbound[n]; !seen {
			inbound[n] = f.st.Inbound(n)
		}
		inbound[n]++
		t, ok := f.def.Task(n)
		if !ok || (t.Join > 0 && inbound[n] != t.Join) {
			continue
		}
		out = append(out, arrival{task: n, activation: f.activated[n] + added[n]})
		added[n]++
	}
	return out
}

func (f *flow) transitioned(e workflow.WorkflowTaskTransitioned) error {
	result, err := resultOf(f.runs(e.Task, e.Activation))
	if err != nil {
		return fmt.Errorf("result of task %s: %w", e.Task, err)
	}
	f.results[e.Task] = f.def.TaskResult(e.Task, result)
	f.statuses[e.Task] = e.Status
	f.ended[activationOf{e.Task, e.Activation}] = true
	var why string
	switch {
	case e.Status != execution.Completed && len(e.Next) == 0:
		why = fmt.Sprintf("task %s ended %s%s and no transition handles it", e.Task, e.Status, endings(f.runs(e.Task, e.Activation)))
	case f.def.Fails(e.Next):
		why = fmt.Sprintf("task %s ended %s and a transition ran the fail command", e.Task, e.Status)
	}
	if why != "" {
		f.unhandled = append(f.unhandled, why)
		f.failures = append(f.failures, workflowdef.TaskError{Task: e.Task, Message: why, Result: f.results[e.Task]})
	}
	return nil
}

// endings says how the runs of a task that did not complete ended, when that is not plain
// from the task's status — "(items: 46 completed, 4 abandoned)" — so that a workflow that fails
// because its worker was lost says so.
func endings(runs []workflow.Run) string {
	counts := map[execution.Status]int{}
	for _, r := range runs {
		if !r.Retried && r.Status != "" {
			counts[r.Status]++
		}
	}
	if len(runs) < 2 && counts[execution.Failed] == len(runs) {
		return ""
	}
	var parts []string
	for _, st := range execution.Statuses {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	what := "runs"
	if len(runs) > 0 && runs[0].Item != nil {
		what = "items"
	}
	return " (" + what + ": " + strings.Join(parts, ", ") + ")"
}

// runs lists the runs of one activation of task, in scheduling order.
func (f *flow) runs(task string, activation int) []workflow.Run {
	var out []workflow.Run
	for _, r := range f.st.Runs(task) {
		if r.Activation == activation {
			out = append(out, r)
		}
	}
	return out
}

// final reports whether a run is the last word on its item: ended and not retried.
func final(r workflow.Run) bool { return r.Status != "" && !r.Retried }

// outcome sums up an activation's final runs: completed if all completed, timeout if one
// timed out, else failed.
func outcome(runs []workflow.Run) execution.Status {
	status := execution.Completed
	for _, r := range runs {
		if !final(r) || r.Status == execution.Completed {
			continue
		}
		if r.Status == execution.Timeout {
			return execution.Timeout
		}
		status = r.Status
	}
	if status != execution.Completed {
		return execution.Failed
	}
	return status
}

// resultOf is a task's result: its last run's, or for with-items the list of each item's
// final result, in item order.
func resultOf(runs []workflow.Run) (any, error) {
	if len(runs) == 0 {
		return workflowdef.Items{}, nil // a with-items task over no items
	}
	if runs[0].Item == nil {
		return decode(runs[len(runs)-1].Result)
	}
	out := make(workflowdef.Items, runs[0].Item.Count)
	for _, r := range runs {
		if !final(r) {
			continue
		}
		v, err := decode(r.Result)
		if err != nil {
			return nil, err
		}
		out[r.Item.Index] = workflowdef.ItemResult{Status: r.Status, Result: v}
	}
	return out, nil
}

func decode(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return ruleeval.DecodeJSON(raw)
}

// scope is what the templates read now.
func (f *flow) scope() (workflowdef.Scope, error) {
	vars := make(map[string]any)
	for k, raw := range f.st.Vars() {
		v, err := decode(raw)
		if err != nil {
			return workflowdef.Scope{}, fmt.Errorf("var %s: %w", k, err)
		}
		vars[k] = v
	}
	return workflowdef.Scope{Parameters: f.params, Vars: vars, Results: maps.Clone(f.results), Statuses: maps.Clone(f.statuses),
		Execution: f.parent.ID(), Action: f.parent.Action()}, nil
}

// runOf finds the run of a child execution.
func (f *flow) runOf(child string) (workflow.Run, bool) {
	for _, task := range f.def.Tasks() {
		for _, r := range f.st.Runs(task) {
			if r.ChildExecutionID == child {
				return r, true
			}
		}
	}
	return workflow.Run{}, false
}

// itemsDone reports whether every item of an activation has a final run, and how many
// items have been scheduled and are in flight.
func itemsDone(runs []workflow.Run, count int) (done bool, scheduled, inFlight int) {
	finals := map[int]bool{}
	seen := map[int]bool{}
	for _, r := range runs {
		seen[r.Item.Index] = true
		if r.Status == "" {
			inFlight++
		}
		if final(r) {
			finals[r.Item.Index] = true
		}
	}
	return len(finals) == count, len(seen), inFlight
}
