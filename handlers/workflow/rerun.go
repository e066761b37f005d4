package workflow

import (
	"context"
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/ident"
	"github.com/attune-go/attune/domain/workflow"
)

// A re-run from a task (ExecutionRequested.rerun_from_task) is a new workflow run that
// starts where the original reached that task: the original's tasks that finished before
// the task was first scheduled are recorded as finished again — each final run as a reused
// run (WorkflowTaskScheduled.reused_from, then its WorkflowTaskCompleted with the original
// result), then the task's WorkflowTaskTransitioned as the original recorded it, with what
// it published and where it led — and every activation those transitions reached that has
// no run yet (the task itself, and branches still in flight at that point) starts afresh.
// With rerun_failed_items, the task's completed items are reused too and only the others
// run. The original's stream is only read: it is not touched.

// origin is the original run of a re-run, folded; err is why it cannot be re-run (a
// failure of the new run, which the API checks beforehand).
type origin struct {
	flow        *flow
	events      []event.Event
	task        string
	failedItems bool
	err         error
}

func (en *Engine) origin(ctx context.Context, req *execution.ExecutionRequested) (*origin, error) {
	o := &origin{task: req.RerunFromTask, failedItems: req.RerunFailedItems}
	if req.RerunOf == "" {
		o.err = failf("re-run from task %s without the execution it re-runs", req.RerunFromTask)
		return o, nil
	}
	events, err := en.read(ctx, execution.StreamID(req.RerunOf))
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		o.err = failf("re-run of execution %s, which does not exist", req.RerunOf)
		return o, nil
	}
	f, err := fold(events)
	if err != nil {
		o.err = failf("re-run of execution %s: %v", req.RerunOf, err)
		return o, nil
	}
	if f.def == nil {
		o.err = failf("re-run of execution %s from task %s: it is not a workflow run", req.RerunOf, req.RerunFromTask)
		return o, nil
	}
	o.flow, o.events = f, events
	return o, nil
}

// reuse records what the re-run takes over from the original and starts the rest.
func (d *decision) reuse(o *origin) error {
	t, ok := d.f.def.Task(o.task)
	if !ok {
		return failf("re-run from task %s: the workflow has no such task", o.task)
	}
	cut := -1
	var first workflow.WorkflowTaskScheduled
	for i, e := range o.events {
		if s, ok := e.(*workflow.WorkflowTaskScheduled); ok && s.Task == o.task {
			cut, first = i, *s
			break
		}
	}
	if cut < 0 {
		return failf("re-run from task %s: it never ran in execution %s", o.task, o.flow.parent.ID())
	}
	for _, e := range o.events[:cut] {
		tr, ok := e.(*workflow.WorkflowTaskTransitioned)
		if !ok {
			continue
		}
		for _, r := range o.flow.runs(tr.Task, tr.Activation) {
			if final(r) {
				if err := d.reuseRun(o, r); err != nil {
					return err
				}
			}
		}
		if err := d.add(workflow.WorkflowTaskTransitioned{
			ExecutionID: d.f.parent.ID(), Task: tr.Task, Activation: tr.Activation, Status: tr.Status,
			Published: tr.Published, Next: tr.Next,
		}); err != nil {
			return err
		}
	}
	count := 0
	if o.failedItems {
		if !t.WithItems() || first.Item == nil {
			return failf("re-run of the failed items of task %s: it has no with-items", o.task)
		}
		count = first.Item.Count
		for _, r := range o.flow.runs(o.task, first.Activation) {
			if final(r) && r.Status == execution.Completed {
				if err := d.reuseRun(o, r); err != nil {
					return err
				}
			}
		}
	}
	// Start every activation reached that has no run yet, in the definition's order.
	for _, name := range d.f.def.Tasks() {
		for a := range d.f.activated[name] {
			runs := d.f.runs(name, a)
			switch {
			case d.f.ended[activationOf{name, a}]:
			case len(runs) == 0:
				if err := d.activate(name, a); err != nil {
					return err
				}
			case o.failedItems && name == o.task && a == first.Activation:
				tt, _ := d.f.def.Task(name)
				if err := d.moreItems(tt, a, count); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reuseRun records one final run of the original as a run of the re-run, with its result.
func (d *decision) reuseRun(o *origin, r workflow.Run) error {
	parent, err := ulid.Parse(d.f.parent.ID())
	if err != nil {
		return fmt.Errorf("parent execution id %q: %w", d.f.parent.ID(), err)
	}
	child := ident.Derive(parent, "workflow-reuse", r.ChildExecutionID).String()
	if err := d.add(workflow.WorkflowTaskScheduled{
		ExecutionID: d.f.parent.ID(), Task: r.Task, Activation: r.Activation, Item: r.Item, Attempt: r.Attempt,
		ChildExecutionID: child, Action: r.Action, Input: o.flow.inputs[r.ChildExecutionID], ReusedFrom: r.ChildExecutionID,
	}); err != nil {
		return err
	}
	return d.add(workflow.WorkflowTaskCompleted{
		ExecutionID: d.f.parent.ID(), Task: r.Task, Activation: r.Activation, Item: r.Item, Attempt: r.Attempt,
		ChildExecutionID: child, Status: r.Status, Result: r.Result,
	})
}
