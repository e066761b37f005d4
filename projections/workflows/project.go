package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/workflow"
)

// projected lists the wire types this projection reads; every other type is skipped unread.
var projected = map[string]bool{
	workflow.WorkflowStarted{}.EventType():          true,
	workflow.WorkflowTaskScheduled{}.EventType():    true,
	workflow.WorkflowTaskCompleted{}.EventType():    true,
	workflow.WorkflowTaskRetried{}.EventType():      true,
	workflow.WorkflowTaskTransitioned{}.EventType(): true,
	workflow.WorkflowCompleted{}.EventType():        true,
}

type change struct {
	r  eventstore.Recorded
	e  event.Event
	wf string
}

// Apply folds one batch: one load and one save of each table, however many events. The log
// is the truth and the engine's domain already judged every event, so rows take what the
// events say; a run or workflow first seen through a later event (a log that starts
// mid-life) is filled in as far as it can be.
func Apply(ctx context.Context, s Store, batch []eventstore.Recorded) error {
	var (
		changes  []change
		ids      []string
		children []string
		refs     []RunRef
		seen     = map[string]bool{}
	)
	for _, r := range batch {
		if !projected[r.Type] {
			continue
		}
		e, err := r.Decode()
		if err != nil {
			return fmt.Errorf("project %s: %w", Name, err)
		}
		c := change{r: r, e: e}
		switch e := e.(type) {
		case *workflow.WorkflowStarted:
			c.wf = e.ExecutionID
		case *workflow.WorkflowTaskScheduled:
			c.wf = e.ExecutionID
			children = append(children, e.ChildExecutionID)
		case *workflow.WorkflowTaskCompleted:
			c.wf = e.ExecutionID
			children = append(children, e.ChildExecutionID)
		case *workflow.WorkflowTaskRetried:
			c.wf = e.ExecutionID
			refs = append(refs, RunRef{WorkflowID: e.ExecutionID, Task: e.Task, Attempt: e.Attempt})
		case *workflow.WorkflowTaskTransitioned:
			c.wf = e.ExecutionID
		case *workflow.WorkflowCompleted:
			c.wf = e.ExecutionID
		}
		if c.wf == "" {
			return fmt.Errorf("project %s: event %s (%s) has no execution id", Name, r.ID, r.Type)
		}
		changes = append(changes, c)
		if !seen[c.wf] {
			seen[c.wf] = true
			ids = append(ids, c.wf)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	wfs, err := s.LoadWorkflows(ctx, ids)
	if err != nil {
		return fmt.Errorf("project %s: load %d workflows: %w", Name, len(ids), err)
	}
	var runs map[string]Run
	if len(children)+len(refs) > 0 {
		if runs, err = s.LoadWorkflowRuns(ctx, children, refs); err != nil {
			return fmt.Errorf("project %s: load runs of %d children: %w", Name, len(children), err)
		}
	}
	if runs == nil {
		runs = map[string]Run{}
	}
	f := fold{wfs: wfs, runs: runs, changed: map[string]bool{}}
	for _, c := range changes {
		if err := f.apply(c); err != nil {
			return fmt.Errorf("project %s: event %s (%s): %w", Name, c.r.ID, c.r.Type, err)
		}
	}
	out := make([]Workflow, 0, len(ids))
	for _, id := range ids {
		out = append(out, wfs[id])
	}
	if err := s.SaveWorkflows(ctx, out); err != nil {
		return fmt.Errorf("project %s: save %d workflows: %w", Name, len(out), err)
	}
	if len(f.order) > 0 {
		rs := make([]Run, 0, len(f.order))
		for _, id := range f.order {
			rs = append(rs, runs[id])
		}
		if err := s.SaveWorkflowRuns(ctx, rs); err != nil {
			return fmt.Errorf("project %s: save %d runs: %w", Name, len(rs), err)
		}
	}
	return nil
}

// fold is one batch's rows in memory.
type fold struct {
	wfs     map[string]Workflow
	runs    map[string]Run // by child id
	changed map[string]bool
	order   []string // changed runs, first change first
}

func (f *fold) touch(r Run) {
	f.runs[r.ChildID] = r
	if !f.changed[r.ChildID] {
		f.changed[r.ChildID] = true
		f.order = append(f.order, r.ChildID)
	}
}

func (f *fold) apply(c change) error {
	at := c.r.RecordedAt
	w, ok := f.wfs[c.wf]
	if !ok {
		w = Workflow{ID: c.wf, Status: execution.Running, Vars: json.RawMessage(`{}`)}
	}
	w.UpdatedAt, w.Version, w.Position = at, c.r.StreamVersion, c.r.Position
	switch e := c.e.(type) {
	case *workflow.WorkflowStarted:
		vars, err := object(e.Vars)
		if err != nil {
			return fmt.Errorf("initial vars: %w", err)
		}
		w.Action, w.StartedAt, w.Vars = e.Action, at, vars
	case *workflow.WorkflowTaskScheduled:
		f.touch(Run{ChildID: e.ChildExecutionID, WorkflowID: c.wf, Task: e.Task, Item: e.Item, Attempt: e.Attempt,
			Action: e.Action, Status: Scheduled, Held: e.Held, ReusedFrom: e.ReusedFrom, NotBefore: e.NotBefore.UTC(), ScheduledAt: at, UpdatedAt: at,
			ScheduledPosition: c.r.Position, Position: c.r.Position})
	case *workflow.WorkflowTaskCompleted:
		r, ok := f.runs[e.ChildExecutionID]
		if !ok {
			r = Run{ChildID: e.ChildExecutionID, WorkflowID: c.wf, Task: e.Task, Item: e.Item, Attempt: e.Attempt,
				ScheduledAt: at, ScheduledPosition: c.r.Position}
		}
		r.Status, r.Result, r.FinishedAt, r.UpdatedAt, r.Position = RunStatusOf(e.Status), e.Result, at, at, c.r.Position
		f.touch(r)
	case *workflow.WorkflowTaskRetried:
		// The run that failed is the latest run of that task, item and attempt.
		var found *Run
		for _, r := range f.runs {
			if r.WorkflowID != c.wf || r.Task != e.Task || r.Attempt != e.Attempt || !sameItem(r.Item, e.Item) {
				continue
			}
			if found == nil || found.ScheduledPosition.Less(r.ScheduledPosition) {
				found = &r
			}
		}
		if found != nil {
			r := *found
			r.Retried, r.RetryReason, r.UpdatedAt, r.Position = true, e.Reason, at, c.r.Position
			f.touch(r)
		}
	case *workflow.WorkflowTaskTransitioned:
		published, err := object(e.Published)
		if err != nil {
			return fmt.Errorf("vars published by task %s: %w", e.Task, err)
		}
		if w.Vars, err = merge(w.Vars, published); err != nil {
			return fmt.Errorf("vars published by task %s: %w", e.Task, err)
		}
		t := Transition{Task: e.Task, Status: e.Status, Next: e.Next, At: at}
		if len(e.Published) > 0 {
			t.Published = published
		}
		w.Transitions = append(w.Transitions, t)
	case *workflow.WorkflowCompleted:
		w.Status, w.Output, w.Error, w.FinishedAt = e.Status, e.Output, e.Error, at
	}
	f.wfs[c.wf] = w
	return nil
}

// object checks optional JSON is an object and returns it compact ({} when absent).
func object(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return json.RawMessage(`{}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("want a JSON object, got %.80s", raw)
	}
	return json.Marshal(m)
}

// merge overwrites vars with published, key by key, as the engine does.
func merge(vars, published json.RawMessage) (json.RawMessage, error) {
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(vars, &a); err != nil {
		return nil, fmt.Errorf("stored vars: %w", err)
	}
	if err := json.Unmarshal(published, &b); err != nil {
		return nil, err
	}
	if a == nil {
		a = map[string]json.RawMessage{}
	}
	maps.Copy(a, b)
	return json.Marshal(a)
}

func sameItem(a, b *workflow.Item) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
