package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/ident"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/internal/kvscope"
)

// failure is a problem that ends the workflow as failed (a template that cannot render, an
// unknown action), as opposed to an error worth a retry.
type failure struct{ reason string }

func (f *failure) Error() string { return f.reason }

func failf(format string, args ...any) error { return &failure{reason: fmt.Sprintf(format, args...)} }

// decision gathers what one message makes the engine append: events for the parent stream,
// applied to the flow as they are decided, and the children to request afterwards.
type decision struct {
	f        *flow
	where    string // the workflow and its file, for the reason of a failure
	now      time.Time
	actions  func(ref string) (runnerType string, ok bool)
	events   []event.Event
	children []execution.ExecutionRequested
	// held are the runs held when the decision began: those it releases (the hold lifted)
	// have their children requested with its commit.
	held map[string]bool

	// The key-value store: loadKV fetches the keys the workflow reads, once per decision
	// (store), at the decision's time; secretParam says which parameters of an action are
	// secret, and box seals a secret key rendered into one (kvscope's policy).
	loadKV      func(refs []ruleeval.KVRef) (kvscope.Values, error)
	kv          *kvscope.Values
	secretParam func(action string) func(string) bool
	box         *secret.Box
	// schema is the parameters an action declares (StackStorm's dialects cast to them).
	schema func(action string) pack.Params
}

// store returns what the workflow reads of the key-value store, fetching it on first use:
// every key any of its templates names, in one query. A secret key read anywhere but a
// task's input fails the workflow, naming the template.
func (d *decision) store(def *workflowdef.Workflow) (kvscope.Values, error) {
	if d.kv != nil {
		return *d.kv, nil
	}
	if def == nil || d.loadKV == nil {
		return kvscope.Values{}, nil
	}
	v, err := d.loadKV(def.KVRefs())
	var refusal *kvscope.Refusal
	if errors.As(err, &refusal) {
		return v, failf("%v", refusal)
	}
	if err != nil {
		return v, err
	}
	for _, p := range def.KVOutsideInputs() {
		if err := v.Forbid(p.Refs(), p.Where); err != nil {
			return v, failf("%v", err)
		}
	}
	d.kv = &v
	return v, nil
}

// scope is what the templates read now: the flow's scope and the store.
func (d *decision) scope() (workflowdef.Scope, error) {
	s, err := d.f.scope()
	if err != nil {
		return s, err
	}
	v, err := d.store(d.f.def)
	if err != nil {
		return s, err
	}
	s.KV = v.Vars
	return s, nil
}

func (d *decision) add(e event.Event) error {
	if err := d.f.apply(e); err != nil {
		return &refusal{fmt.Errorf("decided an event the workflow refuses (%s): %w", e.EventType(), err)}
	}
	d.events = append(d.events, e)
	return nil
}

// settle turns a failure into the end of the workflow; other errors pass through.
func (d *decision) settle(err error) error {
	var fl *failure
	if !errors.As(err, &fl) {
		return err
	}
	d.children = nil // nothing more runs for a failed workflow
	if _, done := d.f.st.Done(); done || !advancing(d.f.parent.Status()) {
		return nil
	}
	return d.end(execution.Failed, nil, d.where+": "+fl.reason)
}

// activate starts activation number activation of a task: one run, or the first window of
// its items.
func (d *decision) activate(name string, activation int) error {
	t, ok := d.f.def.Task(name)
	if !ok {
		return failf("no task %s in the workflow", name)
	}
	if t.Action == "" {
		// An Orquesta task with no action only transitions (publishes, joins, branches).
		return d.finish(t, activation, execution.Completed)
	}
	notBefore := time.Time{}
	delay := t.Delay
	if t.Delayed() {
		s, err := d.scope()
		if err != nil {
			return err
		}
		if delay, err = t.DelayIn(s); err != nil {
			return failf("%v", err)
		}
	}
	if delay > 0 {
		notBefore = d.now.Add(delay)
	}
	if !t.WithItems() {
		return d.schedule(t, activation, nil, nil, 1, notBefore)
	}
	items, err := d.items(t)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return d.finish(t, activation, execution.Completed)
	}
	window := len(items)
	concurrency, err := d.concurrency(t)
	if err != nil {
		return err
	}
	if concurrency > 0 {
		window = min(window, concurrency)
	}
	for i := range window {
		if err := d.schedule(t, activation, &workflow.Item{Index: i, Count: len(items)}, items[i], 1, notBefore); err != nil {
			return err
		}
	}
	return nil
}

// concurrency is how many items of t run at once (0: all): its number, or its expression
// rendered now.
func (d *decision) concurrency(t *workflowdef.Task) (int, error) {
	s, err := d.scope()
	if err != nil {
		return 0, err
	}
	n, err := t.ConcurrencyIn(s)
	if err != nil {
		return 0, failf("%v", err)
	}
	return n, nil
}

func (d *decision) items(t *workflowdef.Task) ([]any, error) {
	s, err := d.scope()
	if err != nil {
		return nil, err
	}
	items, err := t.Items(s)
	if err != nil {
		return nil, failf("%v", err)
	}
	return items, nil
}

// schedule records one run of t and queues its child's request.
func (d *decision) schedule(t *workflowdef.Task, activation int, item *workflow.Item, value any, attempt int, notBefore time.Time) error {
	s, err := d.scope()
	if err != nil {
		return err
	}
	index := -1
	if item != nil {
		s.Item, s.Index, index = value, item.Index, item.Index
	}
	input, err := t.Input(s)
	if err != nil {
		return failf("%v", err)
	}
	if d.f.def.Dialect() != workflowdef.DialectAttune && d.schema != nil {
		// StackStorm casts a rendered string to the type the action declares ("42" an
		// integer); what cannot be cast is left for the schema check to fail the child.
		if cast, err := ruleeval.CastParams(input, d.schema(t.Action)); err == nil {
			input = cast
		}
	}
	if d.kv != nil {
		secretParam := func(string) bool { return false }
		if d.secretParam != nil {
			secretParam = d.secretParam(t.Action)
		}
		input, err = d.kv.SealParams(d.box, input, t.InputKV(), t.Action, secretParam)
		var refusal *kvscope.Refusal
		if errors.As(err, &refusal) {
			return failf("task %s: %v", t.Name, refusal)
		}
		if err != nil {
			return err
		}
	}
	runner, ok := d.actions(t.Action)
	if !ok {
		return failf("task %s: unknown action %s", t.Name, t.Action)
	}
	parent, err := ulid.Parse(d.f.parent.ID())
	if err != nil {
		return fmt.Errorf("parent execution id %q: %w", d.f.parent.ID(), err)
	}
	child := childID(parent, t.Name, activation, index, attempt)
	held := d.f.st.Holding() // a held workflow dispatches nothing: the child waits for the hold to lift
	if err := d.add(workflow.WorkflowTaskScheduled{
		ExecutionID:      d.f.parent.ID(),
		Task:             t.Name,
		Activation:       activation,
		Item:             item,
		Attempt:          attempt,
		ChildExecutionID: child,
		Action:           t.Action,
		Input:            input,
		NotBefore:        notBefore,
		Held:             held,
	}); err != nil {
		return err
	}
	if held {
		return nil
	}
	d.children = append(d.children, execution.ExecutionRequested{
		ExecutionID:    child,
		Action:         t.Action,
		RunnerType:     runner,
		Parameters:     input,
		ParentID:       d.f.parent.ID(),
		WorkflowTask:   t.Name,
		NotBefore:      notBefore,
		TimeoutSeconds: timeoutSeconds(t.Timeout),
	})
	return nil
}

// childID is the one execution a run may have: (parent, task, activation, item, attempt).
func childID(parent ulid.ULID, task string, activation, index, attempt int) string {
	return ident.Derive(parent, "workflow-task", task, strconv.Itoa(activation), strconv.Itoa(index), strconv.Itoa(attempt)).String()
}

// completed records the end of a child's run and decides what follows it.
func (d *decision) completed(r workflow.Run, child execution.Status, result json.RawMessage) error {
	if err := d.record(r, child, result); err != nil {
		return err
	}
	t, ok := d.f.def.Task(r.Task)
	if !ok {
		return failf("no task %s in the workflow", r.Task)
	}
	rt, err := d.retryOf(t)
	if err != nil {
		return err
	}
	if r.Attempt <= rt.Count && len(d.f.unhandled) == 0 {
		again, err := d.retries(t, child, result)
		if err != nil {
			return err
		}
		if again {
			return d.retry(t, rt, r, child)
		}
	}
	runs := d.f.runs(t.Name, r.Activation)
	if !t.WithItems() {
		return d.finish(t, r.Activation, outcome(runs))
	}
	return d.moreItems(t, r.Activation, r.Item.Count)
}

// moreItems goes on with an activation of a with-items task: it finishes it once every item
// has a final run, else schedules the items not run yet, in order, as far as the task's
// concurrency allows. Items need not have been run in order (a re-run of failed items
// reuses the others).
func (d *decision) moreItems(t *workflowdef.Task, activation, count int) error {
	runs := d.f.runs(t.Name, activation)
	done, _, inFlight := itemsDone(runs, count)
	if done {
		return d.finish(t, activation, outcome(runs))
	}
	if len(d.f.unhandled) > 0 {
		return nil
	}
	seen := map[int]bool{}
	for _, r := range runs {
		seen[r.Item.Index] = true
	}
	concurrency, err := d.concurrency(t)
	if err != nil {
		return err
	}
	var items []any
	for next := 0; next < count && (concurrency == 0 || inFlight < concurrency); next++ {
		if seen[next] {
			continue
		}
		if items == nil {
			var err error
			if items, err = d.items(t); err != nil {
				return err
			}
			if len(items) != count {
				return failf("task %s: items changed from %d to %d while it ran", t.Name, count, len(items))
			}
		}
		if err := d.schedule(t, activation, &workflow.Item{Index: next, Count: count}, items[next], 1, time.Time{}); err != nil {
			return err
		}
		inFlight++
	}
	return nil
}

// retries reports whether a run that ended child with result runs again: when it did not
// complete, or, for an Orquesta retry with when, when that holds.
func (d *decision) retries(t *workflowdef.Task, child execution.Status, result json.RawMessage) (bool, error) {
	s, err := d.scope()
	if err != nil {
		return false, err
	}
	v, err := decode(result)
	if err != nil {
		return false, fmt.Errorf("result of task %s: %w", t.Name, err)
	}
	again, err := t.Retries(s, child, d.f.def.TaskResult(t.Name, v))
	if err != nil {
		return false, failf("%v", err)
	}
	return again, nil
}

// retryOf is the task's retry clause, its expressions (Orquesta's count and delay) rendered.
func (d *decision) retryOf(t *workflowdef.Task) (workflowdef.Retry, error) {
	s, err := d.scope()
	if err != nil {
		return workflowdef.Retry{}, err
	}
	rt, err := t.RetryIn(s)
	if err != nil {
		return rt, failf("%v", err)
	}
	return rt, nil
}

func (d *decision) retry(t *workflowdef.Task, rt workflowdef.Retry, r workflow.Run, status execution.Status) error {
	next := r.Attempt + 1
	notBefore := time.Time{}
	if wait := rt.After(next); wait > 0 {
		notBefore = d.now.Add(wait)
	}
	if err := d.add(workflow.WorkflowTaskRetried{
		ExecutionID: d.f.parent.ID(),
		Task:        t.Name,
		Activation:  r.Activation,
		Item:        r.Item,
		Attempt:     r.Attempt,
		Reason:      fmt.Sprintf("attempt %d of %d ended %s", r.Attempt, rt.Count+1, status),
		NotBefore:   notBefore,
	}); err != nil {
		return err
	}
	var value any
	if r.Item != nil {
		items, err := d.items(t)
		if err != nil {
			return err
		}
		if r.Item.Index >= len(items) {
			return failf("task %s: item %d is gone from its items", t.Name, r.Item.Index)
		}
		value = items[r.Item.Index]
	}
	return d.schedule(t, r.Activation, r.Item, value, next, notBefore)
}

// finish ends a task's activation: its transitions are evaluated in order, every one whose
// when holds fires, publishing its vars (visible to the transitions after it) and leading to
// its tasks; a task without join runs once per arrival, a join once its count of inbound
// transitions is reached.
func (d *decision) finish(t *workflowdef.Task, activation int, status execution.Status) error {
	s, err := d.scope()
	if err != nil {
		return err
	}
	result, err := resultOf(d.f.runs(t.Name, activation))
	if err != nil {
		return fmt.Errorf("result of task %s: %w", t.Name, err)
	}
	result = d.f.def.TaskResult(t.Name, result)
	s.Task, s.Status, s.Result = t.Name, status, result
	s.Results[t.Name] = result
	s.Statuses[t.Name] = status
	published := map[string]json.RawMessage{}
	var next []string
	for i, tr := range t.Next {
		holds, err := tr.Holds(s)
		if err != nil {
			return failf("task %s, transition %d: %v", t.Name, i+1, err)
		}
		if !holds {
			continue
		}
		pub, err := tr.Publish(s)
		if err != nil {
			return failf("task %s, transition %d: %v", t.Name, i+1, err)
		}
		if len(pub) > 0 {
			s.Vars = maps.Clone(s.Vars)
			for k, raw := range pub {
				v, err := decode(raw)
				if err != nil {
					return fmt.Errorf("published var %s: %w", k, err)
				}
				s.Vars[k] = v
				published[k] = raw
			}
		}
		next = append(next, d.f.def.Targets(t.Name, tr, status)...)
	}
	var pub json.RawMessage
	if len(published) > 0 {
		if pub, err = json.Marshal(published); err != nil {
			return fmt.Errorf("encode vars published by task %s: %w", t.Name, err)
		}
	}
	for _, n := range next {
		if _, ok := d.f.def.Task(n); !ok && !d.f.def.Command(n) {
			return failf("task %s leads to unknown task %s", t.Name, n)
		}
	}
	arrivals := d.f.arrivals(next)
	failing := len(d.f.unhandled) > 0
	if err := d.add(workflow.WorkflowTaskTransitioned{
		ExecutionID: d.f.parent.ID(),
		Task:        t.Name,
		Activation:  activation,
		Status:      status,
		Published:   pub,
		Next:        next,
	}); err != nil {
		return err
	}
	if failing || (len(d.f.unhandled) > 0 && !d.f.def.Fails(next)) {
		return nil // a failure ends the workflow: nothing new starts
	}
	// Orquesta's `do: log, fail` runs log, then the workflow fails: the tasks named beside
	// the fail command start, and nothing after them.
	for _, a := range arrivals {
		if err := d.activate(a.task, a.activation); err != nil {
			return err
		}
	}
	return nil
}

// record records the end of a child's run.
func (d *decision) record(r workflow.Run, child execution.Status, result json.RawMessage) error {
	return d.add(workflow.WorkflowTaskCompleted{
		ExecutionID:      d.f.parent.ID(),
		Task:             r.Task,
		Activation:       r.Activation,
		Item:             r.Item,
		Attempt:          r.Attempt,
		ChildExecutionID: r.ChildExecutionID,
		Status:           child,
		Result:           result,
	})
}

// endIfIdle ends the workflow once nothing is in flight: cancelled if a cancel was
// requested, failed if a failure went unhandled, else completed with its output as the
// parent's result.
func (d *decision) endIfIdle() error {
	if len(d.f.st.Pending()) > 0 {
		return nil
	}
	if _, done := d.f.st.Done(); done {
		return nil
	}
	switch d.f.parent.Status() {
	case execution.Running, execution.Pausing:
	case execution.Canceling:
		return d.end(execution.Cancelled, nil, "cancelled: no task is left in flight")
	case execution.Paused:
		// Nothing is in flight or held: only an unhandled failure can be left to end it
		// (paused → completed is no transition; a resume completes it).
		if len(d.f.unhandled) > 0 {
			return d.end(execution.Failed, nil, d.f.unhandled[0])
		}
		return nil
	default:
		return nil
	}
	if len(d.f.unhandled) > 0 {
		return d.end(execution.Failed, nil, d.f.unhandled[0])
	}
	s, err := d.scope()
	if err != nil {
		return err
	}
	output, err := d.f.def.Output(s)
	if err != nil {
		return failf("%v", err)
	}
	return d.end(execution.Completed, output, "")
}

func (d *decision) end(status execution.Status, output json.RawMessage, reason string) error {
	if status == execution.Failed && output == nil && d.f.def != nil {
		// Orquesta's dialect gives a failed workflow a result: {errors, output}.
		if s, err := d.f.scope(); err == nil {
			output = d.f.def.FailedResult(s, reason, d.f.failures)
		}
	}
	if d.f.st.ExecutionID() == "" {
		// It failed before WorkflowStarted (its vars cannot render): the parent's failure
		// alone says so.
		change, err := d.f.parent.Transition(status, execution.Outcome{Reason: reason, Result: output})
		if err != nil {
			return err
		}
		return d.add(change)
	}
	if err := d.add(workflow.WorkflowCompleted{
		ExecutionID: d.f.parent.ID(),
		Status:      status,
		Output:      output,
		Error:       reason,
	}); err != nil {
		return err
	}
	change, err := d.f.parent.Transition(status, execution.Outcome{Reason: reason, Result: output})
	if err != nil {
		return err
	}
	return d.add(change)
}

// advancing reports whether a workflow in status s still decides its next steps: running,
// or held (pausing, paused), where what it decides waits for the hold to lift.
func advancing(s execution.Status) bool {
	return s == execution.Running || s == execution.Pausing || s == execution.Paused
}

// steer moves the parent to the status its hold calls for (State.Steer): pausing or paused
// while held, running once the hold lifts.
func (d *decision) steer() error {
	ch, ok, err := d.f.st.Steer(d.f.parent)
	if err != nil || !ok {
		return err
	}
	return d.add(ch)
}
