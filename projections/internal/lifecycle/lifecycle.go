// Package lifecycle writes a realistic log of executions for the projection tests and
// benchmarks: many executions through their whole lives, interleaved in the log the way
// concurrent work interleaves them — successes, failures, timeouts, cancellations, lost
// workers, executions that never found a worker, and workflows whose children run under them.
package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
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

// Write appends the log.
func Write(ctx context.Context, store eventstore.Store, cfg Config) (Written, error) {
	g := &gen{rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), tag: cfg.TraceTag}
	var active []*actor
	for range cfg.Executions {
		active = append(active, g.newActor(""))
	}
	var total Written
	for len(active) > 0 {
		i := g.rnd.IntN(len(active))
		a := active[i]
		if !a.ready() {
			// A workflow waits for its children; they are in active too, so progress is sure.
			continue
		}
		step := a.steps[0]
		a.steps = a.steps[1:]
		events := make([]eventstore.Proposed, 0, len(step))
		for _, e := range step {
			p, err := eventstore.NewProposed(e, a.md)
			if err != nil {
				return total, err
			}
			events = append(events, p)
		}
		res, err := store.Append(ctx, execution.StreamID(a.id), eventstore.Exact(a.version), events...)
		if err != nil {
			return total, fmt.Errorf("write lifecycle of %s: %w", a.id, err)
		}
		if a.version == 0 {
			total.Executions++
		}
		a.version = res.NextExpected
		total.Events += len(events)
		if a.spawn > 0 && a.version == 2 { // the workflow is running: start its tasks
			for range a.spawn {
				c := g.newActor(a.id)
				c.parent = a
				a.children++
				active = append(active, c)
			}
			a.spawn = 0
		}
		if len(a.steps) == 0 {
			active = append(active[:i], active[i+1:]...)
			if a.parent != nil {
				a.parent.children--
				if a.failed {
					a.parent.childFailed = true
				}
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

// actor is one execution still being written: its remaining appends, each one or more
// events appended together.
type actor struct {
	id          string
	md          event.Metadata
	version     int64
	steps       [][]event.Event
	parent      *actor
	spawn       int // children to start once running (workflows)
	children    int // children not yet finished
	childFailed bool
	failed      bool
	workflow    bool
}

func (a *actor) ready() bool {
	if !a.workflow || len(a.steps) > 1 {
		return true
	}
	if a.children > 0 {
		return false
	}
	if a.childFailed { // the last step is the workflow's outcome, decided by its children
		a.steps[0] = []event.Event{change(a.id, execution.Running, execution.Failed, func(e *execution.ExecutionStatusChanged) {
			e.Reason = "a task failed"
		})}
	}
	return true
}

func (g *gen) newActor(parent string) *actor {
	g.n++
	id := ulid.Make().String()
	a := &actor{id: id, md: event.Metadata{CorrelationID: id, Actor: "test", TraceTag: g.tag}}
	req := &execution.ExecutionRequested{
		ExecutionID: id,
		Action:      []string{"core.echo", "core.local", "core.http", "examples.shout"}[g.rnd.IntN(4)],
		RunnerType:  "shell",
		Parameters:  json.RawMessage(fmt.Sprintf(`{"message":"hello %d","count":%d}`, g.n, g.rnd.IntN(10))),
	}
	if parent != "" {
		req.ParentID = parent
		req.WorkflowTask = fmt.Sprintf("task%d", g.rnd.IntN(5))
	} else if g.rnd.IntN(10) < 6 {
		rule := []string{"examples.on_error_ping", "core.every_two_seconds", "examples.nightly"}[g.rnd.IntN(3)]
		req.Rule = rule
		req.Trigger = []string{"examples.ping", "core.intervaltimer"}[g.rnd.IntN(2)]
		req.EnforcementID = ulid.Make().String()
		req.EventID = ulid.Make().String()
	}
	if parent == "" && g.rnd.IntN(10) == 0 {
		a.workflow = true
		req.Action, req.RunnerType = "examples.deploy", "workflow"
		a.spawn = 2 + g.rnd.IntN(4)
		a.steps = [][]event.Event{
			{req},
			{change(id, execution.Requested, execution.Running, nil)},
			{change(id, execution.Running, execution.Completed, func(e *execution.ExecutionStatusChanged) {
				e.Result = json.RawMessage(`{"tasks":"all succeeded"}`)
			})},
		}
		return a
	}
	a.steps, a.failed = g.plain(req)
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
	default: // its worker was lost
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
