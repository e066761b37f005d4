// Package lifecycle writes a realistic log for the projection tests and benchmarks: many
// executions through their whole lives, interleaved in the log the way concurrent work
// interleaves them — successes, failures, timeouts, cancellations, lost workers, executions
// that never found a worker, and workflows whose children run under them (workflow.go: the
// engine's events on the parent's stream, with-items, retries, nested workflows). Most top-level
// executions come from a trigger event through an enforcement, as the pipeline writes them;
// other trigger events match no rule or have their enforcement skipped. Around them, packs are
// registered, reloaded (a rule dropped, a file's `enabled` changed) and retired, operators
// switch rules, and workers register and leave.
package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/trigger"
	"github.com/attune-go/attune/domain/workflow"
)

// Config shapes the log.
type Config struct {
	Executions int    // top-level executions; workflows add their children on top
	Seed       uint64 // same seed, same shape (ids and times differ)
	// TraceTag, when set, tags every execution's metadata (a tag per run).
	TraceTag string
}

// Written counts what Write appended.
type Written struct {
	Events     int
	Executions int // workflow children included
}

// Write appends the log. Writing twice to one store is a second run of the same system: the
// packs are registered again and the workers come back.
func Write(ctx context.Context, store eventstore.Store, cfg Config) (Written, error) {
	g := &gen{rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), tag: cfg.TraceTag}
	active := g.catalogActors()
	for i := range cfg.Executions {
		active = append(active, g.newActor(nil, taskRun{}))
		if i%5 == 4 {
			active = append(active, g.strayEvent())
		}
		if i%8 == 7 {
			active = append(active, g.inquiryActor())
		}
	}
	var total Written
	for len(active) > 0 {
		i := g.rnd.IntN(len(active))
		a := active[i]
		if !g.ready(a) {
			// A workflow waits for its children; they are in active too, so progress is sure.
			continue
		}
		st := a.steps[0]
		a.steps = a.steps[1:]
		stream := st.stream
		if stream == "" {
			stream = execution.StreamID(a.id)
		}
		md := a.md
		if a.last != "" {
			md = a.md.Caused(a.last)
		}
		events := make([]eventstore.Proposed, 0, len(st.events))
		for _, e := range st.events {
			p, err := eventstore.NewProposed(e, md)
			if err != nil {
				return total, err
			}
			events = append(events, p)
			if _, ok := e.(*execution.ExecutionRequested); ok {
				total.Executions++
			}
		}
		expected := eventstore.Exact(a.versions[stream])
		if st.shared {
			expected = eventstore.Any
		}
		res, err := store.Append(ctx, stream, expected, events...)
		if err != nil {
			return total, fmt.Errorf("write lifecycle of %s: %w", stream, err)
		}
		a.versions[stream] = res.NextExpected
		a.last = events[len(events)-1].ID.String()
		total.Events += len(events)
		if st.spawn { // the workflow is running: start its tasks
			active = append(active, g.spawn(a)...)
		}
		if len(a.steps) == 0 {
			active = append(active[:i], active[i+1:]...)
			if a.parent != nil {
				active = append(active, g.finished(a)...)
			}
		}
	}
	return total, nil
}

type gen struct {
	rnd *rand.Rand
	tag string
	n   int
}

// step is one append: to the actor's execution stream unless stream says otherwise. A shared
// stream (a pack's, a rule's, a worker's) is appended to whatever its version: a second Write
// continues it.
type step struct {
	stream string
	shared bool
	events []event.Event
	spawn  bool // a workflow's: its tasks start once this step is appended
	decide bool // a workflow's outcome: written when its children are done (ready)
}

// actor is one line of work still being written (an execution with the trigger event and
// enforcement before it, a stray trigger event, a pack's or a worker's history): its
// remaining appends, each caused by the one before.
type actor struct {
	id          string // the execution's id, if it has one
	md          event.Metadata
	last        string // id of the last event appended: the cause of the next
	versions    map[string]int64
	steps       []step
	parent      *actor
	spawn       int // children to start once running (workflows)
	children    int // children not yet finished
	childFailed bool
	failed      bool
	workflow    bool
	wf          *wfState // a workflow's tasks
	run         taskRun  // a workflow task's run
	completion  *workflow.WorkflowTaskCompleted
	transition  *workflow.WorkflowTaskTransitioned
	retry       bool // a failed task run that the workflow retries
}

func (g *gen) newActor(parent *actor, run taskRun) *actor {
	g.n++
	a := &actor{versions: map[string]int64{}}
	req := &execution.ExecutionRequested{
		Action:     []string{"core.echo", "core.local", "core.http", "examples.shout"}[g.rnd.IntN(4)],
		RunnerType: "shell",
		Parameters: json.RawMessage(fmt.Sprintf(`{"message":"hello %d","count":%d}`, g.n, g.rnd.IntN(10))),
	}
	var before, after []step // the trigger event and enforcement around the request
	switch {
	case parent != nil:
		a.id = ulid.Make().String()
		a.md = parent.md // a task belongs to its workflow's trace
		a.last = parent.last
		a.parent = parent
		req.ParentID = parent.id
		req.WorkflowTask = run.task
		a.run = run
	case g.rnd.IntN(10) < 6:
		rule := []string{"examples.on_error_ping", "core.every_two_seconds", "examples.nightly"}[g.rnd.IntN(3)]
		fired := g.fired(rule)
		evID := ulid.MustParse(fired.EventID)
		enfID := enforcement.ID(evID, rule)
		a.id = execution.IDForEnforcement(enfID).String()
		a.md = event.Metadata{CorrelationID: fired.EventID, Actor: "test", TraceTag: g.tag}
		req.Rule, req.Trigger, req.EnforcementID, req.EventID = rule, fired.Trigger, enfID.String(), fired.EventID
		created := &enforcement.EnforcementCreated{EnforcementID: enfID.String(), Rule: rule, Trigger: fired.Trigger,
			EventID: fired.EventID, Action: req.Action, Parameters: req.Parameters}
		before = []step{
			{stream: trigger.StreamID(fired.EventID), events: []event.Event{fired}},
			{stream: enforcement.StreamID(enfID.String()), events: []event.Event{created}},
		}
		after = []step{{stream: enforcement.StreamID(enfID.String()), events: []event.Event{
			&enforcement.EnforcementProcessed{EnforcementID: enfID.String(), ExecutionID: a.id},
		}}}
	default:
		a.id = ulid.Make().String()
		a.md = event.Metadata{CorrelationID: a.id, Actor: "test", TraceTag: g.tag}
	}
	req.ExecutionID = a.id
	var lives [][]event.Event
	if (parent == nil && g.rnd.IntN(10) == 0) || (parent != nil && parent.parent == nil && run.item == nil && g.rnd.IntN(6) == 0) {
		g.workflowActor(a, req, before, after)
	} else {
		lives, a.failed = g.plain(req)
		a.steps = append(a.steps, before...)
		a.steps = append(a.steps, step{events: lives[0]})
		a.steps = append(a.steps, after...)
		for _, l := range lives[1:] {
			a.steps = append(a.steps, step{events: l})
		}
	}
	if parent != nil {
		g.taskSteps(a, req.Action)
	}
	return a
}

// fired makes a trigger event for rule: a timer's tick for the timer rule, a webhook else.
func (g *gen) fired(rule string) *trigger.EventFired {
	e := &trigger.EventFired{EventID: ulid.Make().String(), Trigger: "examples.ping", Source: trigger.Webhook,
		Payload: json.RawMessage(fmt.Sprintf(`{"level":"error","msg":"disk %d full"}`, g.n))}
	if rule == "core.every_two_seconds" {
		e.Trigger, e.Source, e.Rule, e.Payload = "core.intervaltimer", trigger.Timer, rule, json.RawMessage(`{}`)
	}
	return e
}

// strayEvent is a trigger event that runs nothing: no rule matched it, or its enforcement was
// skipped when it was created.
func (g *gen) strayEvent() *actor {
	g.n++
	fired := g.fired("")
	a := &actor{versions: map[string]int64{}, md: event.Metadata{CorrelationID: fired.EventID, Actor: "test", TraceTag: g.tag}}
	a.steps = []step{{stream: trigger.StreamID(fired.EventID), events: []event.Event{fired}}}
	if g.rnd.IntN(2) == 0 {
		rule := "examples.on_error_ping"
		enfID := enforcement.ID(ulid.MustParse(fired.EventID), rule).String()
		a.steps = append(a.steps, step{stream: enforcement.StreamID(enfID), events: []event.Event{
			&enforcement.EnforcementCreated{EnforcementID: enfID, Rule: rule, Trigger: fired.Trigger, EventID: fired.EventID, Action: "examples.shout"},
			&enforcement.EnforcementSkipped{EnforcementID: enfID, Reason: "parameter message: {{ event.payload.message }}: no such field"},
		}})
	}
	return a
}

// plain picks an outcome and returns the appends that lead to it, and whether it failed.
func (g *gen) plain(req *execution.ExecutionRequested) ([][]event.Event, bool) {
	id := req.ExecutionID
	worker := fmt.Sprintf("worker-%d", g.rnd.IntN(4))
	to := func(from, to execution.Status) []event.Event { return []event.Event{change(id, from, to, nil)} }
	schedule := [][]event.Event{
		to(execution.Requested, execution.Scheduling),
		{
			&execution.ExecutionScheduled{ExecutionID: id, WorkerID: worker, Runtime: "shell"},
			change(id, execution.Scheduling, execution.Scheduled, nil),
		},
		{change(id, execution.Scheduled, execution.Running, func(e *execution.ExecutionStatusChanged) { e.WorkerID = worker })},
	}
	exit := func(code int) *int { return &code }
	steps := [][]event.Event{{req}}
	switch n := g.rnd.IntN(100); {
	case n < 50: // succeeds
		steps = append(steps, schedule...)
		steps = append(steps, []event.Event{change(id, execution.Running, execution.Completed, func(e *execution.ExecutionStatusChanged) {
			e.Result, e.ExitCode, e.Stdout = json.RawMessage(`{"ok": true, "n": 1}`), exit(0), "done\n"
		})})
		return steps, false
	case n < 65: // the action fails
		steps = append(steps, schedule...)
		steps = append(steps, []event.Event{change(id, execution.Running, execution.Failed, func(e *execution.ExecutionStatusChanged) {
			e.Reason, e.ExitCode, e.Stderr = "exit status 2", exit(2), "boom\n"
		})})
		return steps, true
	case n < 70: // times out
		steps = append(steps, schedule...)
		steps = append(steps, to(execution.Running, execution.Timeout))
		return steps, true
	case n < 75: // no worker by the deadline
		steps = append(steps, to(execution.Requested, execution.Scheduling), []event.Event{change(id, execution.Scheduling, execution.Failed, func(e *execution.ExecutionStatusChanged) {
			e.Reason = "no worker with runtime shell within 30s"
		})})
		return steps, true
	case n < 80: // invalid parameters
		steps = append(steps, []event.Event{change(id, execution.Requested, execution.Failed, func(e *execution.ExecutionStatusChanged) {
			e.Reason = "parameter count: want integer"
		})})
		return steps, true
	case n < 85: // delayed by a policy, then runs
		steps = append(steps, to(execution.Requested, execution.Delayed), to(execution.Delayed, execution.Scheduling))
		steps = append(steps, schedule[1:]...)
		steps = append(steps, to(execution.Running, execution.Completed))
		return steps, false
	case n < 90: // cancelled before it ran
		steps = append(steps, to(execution.Requested, execution.Cancelled))
		return steps, true
	case n < 95: // cancelled while running
		steps = append(steps, schedule...)
		steps = append(steps, to(execution.Running, execution.Canceling), to(execution.Canceling, execution.Cancelled))
		return steps, true
	case n < 97: // its worker was lost before it started the run: placed again, runs
		other := fmt.Sprintf("worker-%d", g.rnd.IntN(4))
		steps = append(steps, schedule[:2]...)
		steps = append(steps,
			[]event.Event{change(id, execution.Scheduled, execution.Scheduling, func(e *execution.ExecutionStatusChanged) {
				e.WorkerID, e.Reason = worker, "worker "+worker+" left (lost: no heartbeat for 6s) before it started the run; placed again"
			})},
			[]event.Event{
				&execution.ExecutionScheduled{ExecutionID: id, WorkerID: other, Runtime: "shell"},
				change(id, execution.Scheduling, execution.Scheduled, nil),
			},
			[]event.Event{change(id, execution.Scheduled, execution.Running, func(e *execution.ExecutionStatusChanged) { e.WorkerID = other })},
			to(execution.Running, execution.Completed))
		return steps, false
	default: // its worker was lost while it ran
		steps = append(steps, schedule...)
		steps = append(steps, []event.Event{change(id, execution.Running, execution.Abandoned, func(e *execution.ExecutionStatusChanged) {
			e.Reason = "worker " + worker + " lost"
		})})
		return steps, true
	}
}

func change(id string, from, to execution.Status, edit func(*execution.ExecutionStatusChanged)) *execution.ExecutionStatusChanged {
	if err := execution.CheckTransition(from, to); err != nil {
		panic(err) // a bug in this generator: the log must be one the domain could write
	}
	e := &execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to}
	if edit != nil {
		edit(e)
	}
	return e
}
