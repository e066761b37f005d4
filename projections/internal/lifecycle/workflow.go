package lifecycle

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// taskRun is what a workflow's child runs: one item of one task, one attempt.
type taskRun struct {
	task    string
	item    *workflow.Item
	attempt int
}

// wfState is what a workflow actor remembers of its tasks.
type wfState struct {
	itemTasks map[string]execution.Status // with-items tasks: the worst outcome of their items so far
}

// workflowActor makes a an execution of a workflow action, the way the engine writes one:
// requested, then running with WorkflowStarted (its tasks start then), then — once every
// child has finished — the with-items tasks' transitions, WorkflowCompleted and the terminal
// status, decided by ready. Its children append to its stream too (the engine's
// WorkflowTaskScheduled/Completed), so its own appends do not pin a version.
func (g *gen) workflowActor(a *actor, req *execution.ExecutionRequested, before, after []step) {
	a.workflow = true
	req.Action, req.RunnerType = "examples.deploy", "workflow"
	a.spawn = 2 + g.rnd.IntN(4)
	a.wf = &wfState{itemTasks: map[string]execution.Status{}}
	own := func(es ...event.Event) step { return step{shared: true, events: es} }
	started := own(change(a.id, execution.Requested, execution.Running, nil), &workflow.WorkflowStarted{
		ExecutionID: a.id, Action: req.Action, Definition: json.RawMessage(`{"tasks":{}}`), Input: req.Parameters,
		Vars: json.RawMessage(`{"greeting":"hello","hosts":[]}`),
	})
	started.spawn = true
	end := own()
	end.decide = true
	a.steps = append(a.steps, before...)
	a.steps = append(a.steps, own(req))
	a.steps = append(a.steps, after...)
	a.steps = append(a.steps, started, end)
}

// spawn starts a running workflow's tasks: distinct tasks, or the items of one with-items task.
func (g *gen) spawn(a *actor) []*actor {
	items := g.rnd.IntN(3) == 0
	var out []*actor
	for i := range a.spawn {
		run := taskRun{task: fmt.Sprintf("step%d", i+1), attempt: 1}
		if items {
			run.task, run.item = "deploy", &workflow.Item{Index: i, Count: a.spawn}
		}
		out = append(out, g.newActor(a, run))
		a.children++
	}
	a.spawn = 0
	return out
}

// taskSteps wraps a child's life in its parent's events: WorkflowTaskScheduled before its
// request; WorkflowTaskCompleted after its end, with the retry or, for a task without
// items, the transition that the outcome leads to.
func (g *gen) taskSteps(a *actor, action string) {
	p := a.parent
	onParent := func(es ...event.Event) step {
		return step{stream: execution.StreamID(p.id), shared: true, events: es}
	}
	scheduled := &workflow.WorkflowTaskScheduled{ExecutionID: p.id, Task: a.run.task, Item: a.run.item, Attempt: a.run.attempt,
		ChildExecutionID: a.id, Action: action, Input: json.RawMessage(`{"host":"h1"}`)}
	if a.run.attempt > 1 { // a retry's backoff
		scheduled.NotBefore = time.Date(2026, 3, 1, 12, 0, a.run.attempt, 0, time.UTC)
	}
	a.completion = &workflow.WorkflowTaskCompleted{ExecutionID: p.id, Task: a.run.task, Item: a.run.item,
		Attempt: a.run.attempt, ChildExecutionID: a.id}
	done := []event.Event{a.completion}
	var transition *workflow.WorkflowTaskTransitioned
	if a.run.item == nil {
		transition = &workflow.WorkflowTaskTransitioned{ExecutionID: p.id, Task: a.run.task}
	}
	if !a.workflow {
		life := a.steps[len(a.steps)-1].events
		end := life[len(life)-1].(*execution.ExecutionStatusChanged)
		a.completion.Status, a.completion.Result = end.To, end.Result
		if a.failed && a.run.attempt < 3 && g.rnd.IntN(2) == 0 {
			a.retry, transition = true, nil
			done = append(done, &workflow.WorkflowTaskRetried{ExecutionID: p.id, Task: a.run.task, Item: a.run.item,
				Attempt: a.run.attempt, Reason: fmt.Sprintf("attempt %d ended %s; retry %d of 2", a.run.attempt, end.To, a.run.attempt)})
		}
	}
	if transition != nil {
		a.transition = transition
		outcome(transition, a.completion.Status) // a nested workflow's is filled in by ready
		done = append(done, transition)
	}
	a.steps = append([]step{onParent(scheduled)}, a.steps...)
	a.steps = append(a.steps, onParent(done...))
}

// outcome fills a task's transition from how it ended: what it publishes, where it leads.
func outcome(t *workflow.WorkflowTaskTransitioned, st execution.Status) {
	t.Status = st
	if st == execution.Completed {
		t.Published = json.RawMessage(fmt.Sprintf(`{%q: true, "last": %q}`, t.Task+"_ok", t.Task))
		t.Next = []string{"summarize"}
		return
	}
	t.Published, t.Next = nil, []string{"report_failure"}
}

// ready says whether a's next step can be written; a workflow's outcome waits for its
// children, and is decided by them.
func (g *gen) ready(a *actor) bool {
	if len(a.steps) == 0 || !a.steps[0].decide {
		return true
	}
	if a.children > 0 {
		return false
	}
	var events []event.Event
	for _, task := range slices.Sorted(maps.Keys(a.wf.itemTasks)) {
		t := &workflow.WorkflowTaskTransitioned{ExecutionID: a.id, Task: task}
		outcome(t, a.wf.itemTasks[task])
		events = append(events, t)
	}
	status, result, reason := execution.Completed, json.RawMessage(`{"tasks":"all succeeded"}`), ""
	done := &workflow.WorkflowCompleted{ExecutionID: a.id, Status: status, Output: result}
	if a.childFailed {
		status, result, reason = execution.Failed, nil, "a task failed"
		done.Status, done.Output, done.Error = status, nil, reason
	}
	a.steps[0].events = append(events, done, change(a.id, execution.Running, status, func(e *execution.ExecutionStatusChanged) {
		e.Result, e.Reason = result, reason
	}))
	a.failed = a.childFailed
	if a.completion != nil { // a nested workflow: its parent learns how it ended
		a.completion.Status, a.completion.Result = status, result
	}
	if a.transition != nil {
		outcome(a.transition, status)
	}
	return true
}

// finished records in its workflow that child a wrote its last step, and returns the
// retry it calls for, if any.
func (g *gen) finished(a *actor) []*actor {
	p := a.parent
	p.children--
	if a.retry {
		p.children++
		return []*actor{g.newActor(p, taskRun{task: a.run.task, item: a.run.item, attempt: a.run.attempt + 1})}
	}
	if a.failed {
		p.childFailed = true
	}
	if a.run.item != nil {
		if st := p.wf.itemTasks[a.run.task]; st == "" || st == execution.Completed {
			p.wf.itemTasks[a.run.task] = a.completion.Status
		}
	}
	return nil
}
