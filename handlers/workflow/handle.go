package workflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/attune-go/attune/handlers/internal/actionparams"
	"strings"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/ruleeval"
	"github.com/attune-go/attune/adapters/workflowdef"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/internal/kvscope"
)

// Start reacts to ExecutionRequested: a workflow action's execution goes running, its
// definition is pinned by WorkflowStarted, and its start tasks are scheduled.
func (en *Engine) Start(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	req, ok := payload.(*execution.ExecutionRequested)
	if !ok || pack.RunnerType(req.RunnerType) != pack.RunnerWorkflow {
		return nil
	}
	unlock, err := en.flows.lock(ctx, e.StreamID)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := en.flow(ctx, e.StreamID)
	if err != nil {
		return en.failOn(ctx, e, e.StreamID, err)
	}
	if f.parent.Status() != execution.Requested {
		en.keep(f)
		// Started already: request what a crash may have left out.
		return en.failOn(ctx, e, e.StreamID, en.request(ctx, f, e))
	}
	if err := en.catalog.WaitFor(ctx, e.Position); err != nil {
		return fmt.Errorf("wait for the catalogue at %v: %w", e.Position, err)
	}
	d := en.decision(ctx, f, e.Position)
	var from *origin
	if req.RerunFromTask != "" {
		if from, err = en.origin(ctx, req); err != nil {
			return err
		}
	}
	if err := d.settle(en.start(d, from)); err != nil {
		return en.failOn(ctx, e, e.StreamID, err)
	}
	return en.failOn(ctx, e, e.StreamID, en.commit(ctx, e, d))
}

func (en *Engine) start(d *decision, from *origin) error {
	f := d.f
	action, ok := en.catalog.Action(f.parent.Action())
	var def *workflowdef.Workflow
	var err error
	if from != nil && from.err == nil {
		// A re-run runs the graph the original ran: the results it reuses are that graph's.
		action.Workflow, ok = from.flow.st.Definition(), true
	}
	if ok {
		def, err = workflowdef.Parse(action.Workflow)
	}
	if !ok || err != nil {
		reason := fmt.Sprintf("unknown workflow action %s", f.parent.Action())
		if err != nil {
			reason = fmt.Sprintf("invalid workflow %s: %v", f.parent.Action(), err)
		}
		change, terr := f.parent.Transition(execution.Failed, execution.Outcome{Reason: reason})
		if terr != nil {
			return terr
		}
		return d.add(change)
	}
	running, err := f.parent.Transition(execution.Running, execution.Outcome{Reason: "started by the workflow engine"})
	if err != nil {
		return err
	}
	if err := d.add(running); err != nil {
		return err
	}
	params, err := workflowdef.Decode(f.parent.Parameters())
	if err != nil {
		return failf("workflow parameters: %v", err)
	}
	store, err := d.store(def)
	if err != nil {
		return err
	}
	vars, err := def.Vars(workflowdef.Scope{Parameters: params, KV: store.Vars, Execution: f.parent.ID(), Action: f.parent.Action()})
	if err != nil {
		return failf("%v", err)
	}
	if err := d.add(workflow.WorkflowStarted{
		ExecutionID: f.parent.ID(),
		Action:      f.parent.Action(),
		Definition:  action.Workflow,
		Input:       f.parent.Parameters(),
		Vars:        vars,
	}); err != nil {
		return err
	}
	if from != nil {
		if from.err != nil {
			return from.err
		}
		if err := d.reuse(from); err != nil {
			return err
		}
		return d.endIfIdle()
	}
	for _, name := range def.Start() {
		if err := d.activate(name, 0); err != nil { // a start task's one activation
			return err
		}
	}
	return d.endIfIdle()
}

// Advance reacts to a child's terminal ExecutionStatusChanged: it records the run's end in
// the parent stream and decides what follows.
func (en *Engine) Advance(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	change, ok := payload.(*execution.ExecutionStatusChanged)
	if ok && change.To == execution.Canceling {
		return en.cancelRuns(ctx, e)
	}
	if ok && !change.To.Terminal() && (waits(change.To) || waits(change.From)) {
		return en.childWaits(ctx, e, change) // a child (an inquiry, a sub-workflow) waits, or runs again
	}
	if !ok || !change.To.Terminal() {
		return nil
	}
	// The change says whether the child is a task, and it is the child's end: a terminal
	// status is final, so the status and result are the message's own. Only a change
	// recorded before changes named the parent needs the child's stream to tell.
	childID, status, result := change.ExecutionID, change.To, change.Result
	parentID, known := change.Parent()
	if !known {
		childEvents, err := en.read(ctx, e.StreamID)
		if err != nil {
			return err
		}
		child, err := execution.FromEvents(childEvents)
		if err != nil {
			return bus.Permanent(fmt.Errorf("stream %s: %w", e.StreamID, err))
		}
		if !child.Status().Terminal() {
			return nil
		}
		childID, status, result, parentID = child.ID(), child.Status(), terminalResult(childEvents), child.ParentID()
	}
	if parentID == "" {
		return nil // not a workflow's task
	}
	stream := execution.StreamID(parentID)
	unlock, err := en.flows.lock(ctx, stream)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := en.flow(ctx, stream)
	if err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	parent := f.parent.Status()
	if f.def == nil || (!advancing(parent) && parent != execution.Canceling) {
		en.keep(f)
		return nil // not started by the engine, or over: nothing waits for this child
	}
	r, ok := f.runOf(childID)
	if !ok {
		return en.failOn(ctx, e, stream, bus.Permanent(fmt.Errorf("child %s of workflow %s was never scheduled", childID, f.parent.ID())))
	}
	if r.Status != "" {
		en.keep(f)
		return en.failOn(ctx, e, stream, en.request(ctx, f, e)) // recorded already: a redelivery
	}
	if err := en.catalog.WaitFor(ctx, e.Position); err != nil {
		return fmt.Errorf("wait for the catalogue at %v: %w", e.Position, err)
	}
	d := en.decision(ctx, f, e.Position)
	if parent == execution.Canceling {
		err = d.stopped(r, status, result)
	} else if err = d.completed(r, status, result); err == nil {
		if err = d.endIfIdle(); err == nil {
			if err = d.steer(); err == nil {
				// A workflow paused while its last task waited (an inquiry) ends now: paused →
				// completed is no transition, so endIfIdle above left it for the resume.
				err = d.endIfIdle()
			}
		}
	}
	if err := d.settle(err); err != nil {
		return en.failOn(ctx, e, stream, err)
	}
	return en.failOn(ctx, e, stream, en.commit(ctx, e, d))
}

// terminalResult is the result the child's terminal status change carries.
func terminalResult(events []event.Event) []byte {
	for i := len(events) - 1; i >= 0; i-- {
		if c, ok := events[i].(*execution.ExecutionStatusChanged); ok && c.To.Terminal() {
			return c.Result
		}
	}
	return nil
}

// flow returns the parent stream folded, for the caller alone to use (a decision mutates
// it): the cached fold brought up to date with the events appended since, or, on a miss or
// anything amiss, a fold from scratch. The caller hands it back with keep once it is known to
// be the fold of the log up to its version, and holds the stream's lock meanwhile.
func (en *Engine) flow(ctx context.Context, stream string) (*flow, error) {
	if f := en.flows.take(stream); f != nil && execution.StreamID(f.parent.ID()) == stream {
		after := f.parent.Version()
		recorded, err := en.log.ReadStreamFrom(ctx, stream, after)
		if err != nil {
			return nil, fmt.Errorf("read %s after version %d: %w", stream, after, err)
		}
		if catchUp(f, recorded) {
			return f, nil
		}
	}
	events, err := en.read(ctx, stream)
	if err != nil {
		return nil, err
	}
	f, err := fold(events)
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("stream %s: %w", stream, err))
	}
	return f, nil
}

// catchUp folds into f the events appended after its version. It reports false on a gap, an
// event it cannot decode or one the fold refuses: f is then half-updated and must be
// dropped, and a fold from scratch says what is wrong, if anything.
func catchUp(f *flow, recorded []eventstore.Recorded) bool {
	for _, r := range recorded {
		if r.StreamVersion != f.parent.Version()+1 {
			return false
		}
		e, err := r.Decode()
		if err != nil {
			return false
		}
		if err := f.apply(e); err != nil {
			return false
		}
	}
	return true
}

// keep caches f, the fold of its stream as the log holds it, for the next message.
func (en *Engine) keep(f *flow) {
	en.flows.put(execution.StreamID(f.parent.ID()), f)
}

func (en *Engine) decision(ctx context.Context, f *flow, cause eventstore.Position) *decision {
	now := en.now()
	packRef, _, _ := strings.Cut(f.parent.Action(), ".")
	held := map[string]bool{}
	for _, r := range f.st.Held() {
		held[r.ChildExecutionID] = true
	}
	return &decision{
		f:     f,
		held:  held,
		where: en.where(f.parent.Action()),
		now:   now,
		actions: func(ref string) (string, bool) {
			a, ok := en.catalog.Action(ref)
			return string(a.RunnerType), ok
		},
		secretParam: func(action string) func(string) bool {
			a, _ := en.catalog.Action(action)
			return a.Parameters.IsSecret
		},
		schema: func(action string) pack.Params {
			a, _ := en.catalog.Action(action)
			return a.Parameters
		},
		box: en.box,
		loadKV: func(refs []ruleeval.KVRef) (kvscope.Values, error) {
			return kvscope.Load(ctx, en.kv, en.box, packRef, refs, cause, now)
		},
	}
}

// commit appends the decision to the parent stream at the version it was decided on, then
// requests its children.
func (en *Engine) commit(ctx context.Context, cause eventstore.Recorded, d *decision) error {
	if len(d.events) == 0 {
		en.keep(d.f)
		return nil
	}
	md := cause.Metadata.Caused(cause.ID.String())
	proposed := make([]eventstore.Proposed, len(d.events))
	for i, ev := range d.events {
		p, err := eventstore.NewProposed(ev, md)
		if err != nil {
			return err
		}
		proposed[i] = p
	}
	expected := d.f.parent.Version() - int64(len(d.events))
	stream := execution.StreamID(d.f.parent.ID())
	if _, err := en.log.Append(ctx, stream, eventstore.Exact(expected), proposed...); err != nil {
		return fmt.Errorf("append %d workflow events to %s: %w", len(proposed), stream, err)
	}
	// The flow, with the decision applied, is now the fold of the log up to its version.
	en.keep(d.f)
	children := d.children
	for _, r := range d.f.st.Pending() {
		if d.held[r.ChildExecutionID] && !r.Held && d.f.parent.Status() != execution.Canceling {
			children = append(children, en.childRequest(d.f, r)) // the hold lifted: its child goes now
		}
	}
	return en.requestChildren(ctx, md, d.f.parent.Action(), children)
}

// childRequest is the request of the child of a run scheduled earlier.
func (en *Engine) childRequest(f *flow, r workflow.Run) execution.ExecutionRequested {
	a, _ := en.catalog.Action(r.Action)
	return execution.ExecutionRequested{
		ExecutionID:    r.ChildExecutionID,
		Action:         r.Action,
		RunnerType:     string(a.RunnerType),
		Parameters:     f.inputs[r.ChildExecutionID],
		ParentID:       f.parent.ID(),
		WorkflowTask:   r.Task,
		NotBefore:      f.notBefore[r.ChildExecutionID],
		TimeoutSeconds: f.timeoutSeconds(r.Task),
	}
}

// request appends the children of pending runs that are missing: after a crash between a
// decision and its children, the redelivered message finishes the job.
func (en *Engine) request(ctx context.Context, f *flow, cause eventstore.Recorded) error {
	if f.def == nil || !advancing(f.parent.Status()) {
		return nil
	}
	var children []execution.ExecutionRequested
	for _, r := range f.st.Pending() {
		if r.Held || r.Waiting != "" {
			continue // not to be requested yet; or requested, since it waits
		}
		if _, ok := en.catalog.Action(r.Action); !ok {
			continue // the decision that scheduled it knew it; wait for the catalogue to catch up
		}
		children = append(children, en.childRequest(f, r))
	}
	return en.requestChildren(ctx, cause.Metadata.Caused(cause.ID.String()), f.parent.Action(), children)
}

func (en *Engine) requestChildren(ctx context.Context, md event.Metadata, parentAction string, children []execution.ExecutionRequested) error {
	for _, c := range children {
		events, err := en.prepareChild(c, parentAction)
		if err != nil {
			return err
		}
		var ps []eventstore.Proposed
		for _, e := range events {
			p, err := eventstore.NewProposed(e, md)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		_, err = en.log.Append(ctx, execution.StreamID(c.ExecutionID), eventstore.NoStream, ps...)
		if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			return fmt.Errorf("request child execution %s of task %s: %w", c.ExecutionID, c.WorkflowTask, err)
		}
	}
	return nil
}

// prepareChild checks a child's input against its action's parameter schema the way every
// other request is checked (defaults applied, secrets sealed): invalid input fails the child
// in the same append that requests it, so it never reaches a worker, and the workflow handles
// that failure like any other. The parent's sealed secrets may be passed on to its children:
// they open for the child because the parent's action vouches for them.
func (en *Engine) prepareChild(c execution.ExecutionRequested, parentAction string) ([]event.Event, error) {
	a, ok := en.catalog.Action(c.Action)
	if !ok || len(a.Parameters) == 0 {
		// Unknown: the decision knew it, and the catalogue will; no schema: nothing to check
		// the input against, so it is taken as given.
		return []event.Event{c}, nil
	}
	params, invalid, err := actionparams.Prepare(en.box, c.Action, a.Parameters, c.Parameters, parentAction)
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("prepare the input of child %s: %w", c.ExecutionID, err))
	}
	c.Parameters = params
	if invalid == nil {
		return []event.Event{c}, nil
	}
	x, err := execution.FromEvents([]event.Event{c})
	if err != nil {
		return nil, err
	}
	failed, err := x.Transition(execution.Failed, execution.Outcome{Reason: "invalid parameters: " + invalid.Error()})
	if err != nil {
		return nil, err
	}
	return []event.Event{c, failed}, nil
}
