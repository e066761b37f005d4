package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	wf "github.com/attune-go/attune/domain/workflow"
	"github.com/attune-go/attune/handlers/handlertest"
	"github.com/attune-go/attune/handlers/workflow"
)

// parentID is the workflow execution of every scenario.
const parentID = "01JD0000000000000000000000"

// catalog is the registry as the engine sees it: every action is known at once.
type catalog map[string]pack.Action

func (catalog) WaitFor(context.Context, eventstore.Position) error { return nil }

func (c catalog) Action(ref string) (pack.Action, bool) {
	a, ok := c[ref]
	return a, ok
}

// worker stands for the scheduler and a worker: it ends each child the way a test says,
// given the child's request and how many times its task has run before.
type worker func(req *execution.ExecutionRequested, runs int) (execution.Status, string)

// echo completes every run with its parameters as result.
func echo(req *execution.ExecutionRequested, _ int) (execution.Status, string) {
	return execution.Completed, string(req.Parameters)
}

type bundle struct {
	fx      *handlertest.Fixture
	catalog catalog
	engine  *workflow.Engine
	// replicas, if any, share the deliveries with engine in turn, as engines in several
	// processes (each with its own cache of flows) share a queue.
	replicas []*workflow.Engine
}

func setup(t *testing.T, definition string, extra ...pack.Action) *bundle {
	t.Helper()
	fx := handlertest.New(t)
	c := catalog{
		"ex.wf":   {Ref: "ex.wf", RunnerType: pack.RunnerWorkflow, Workflow: json.RawMessage(definition)},
		"ex.echo": {Ref: "ex.echo", RunnerType: pack.RunnerBuiltin},
		"ex.fail": {Ref: "ex.fail", RunnerType: pack.RunnerShell},
	}
	for _, a := range extra {
		c[a.Ref] = a
	}
	return &bundle{fx: fx, catalog: c, engine: workflow.New(workflow.Config{Log: fx.Store(), Catalog: c, Now: fx.Now})}
}

// run requests the workflow with params and drives it to its end: every event appended is
// delivered twice to both handlers, in a shuffled order, as the bus may; children are ended
// by w. It returns the parent stream's events after the request, one summary per line.
func (b *bundle) run(t *testing.T, params string, w worker) string {
	t.Helper()
	ctx := t.Context()
	given := b.fx.Given(execution.StreamID(parentID), execution.ExecutionRequested{
		ExecutionID: parentID, Action: "ex.wf", RunnerType: string(pack.RunnerWorkflow), Parameters: json.RawMessage(params),
	})
	rng := rand.New(rand.NewPCG(1, 2))
	runs := map[string]int{}
	batch, after := given, given[0].Position
	for round := 0; len(batch) > 0; round++ {
		if round > 1000 {
			t.Fatal("the workflow did not settle in 1000 rounds")
		}
		deliveries := append(append([]eventstore.Recorded(nil), batch...), batch...)
		rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		engines := append([]*workflow.Engine{b.engine}, b.replicas...)
		for i, e := range deliveries {
			en := engines[(round+i)%len(engines)]
			for _, h := range []func(context.Context, eventstore.Recorded) error{en.Start, en.Advance} {
				if err := b.fx.Deliver(h, e); err != nil {
					t.Fatalf("deliver %s: %v", handlertest.Summary(e), err)
				}
			}
		}
		for _, e := range batch {
			payload, err := e.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if req, ok := payload.(*execution.ExecutionRequested); ok && req.ParentID != "" {
				status, result := w(req, runs[req.WorkflowTask])
				runs[req.WorkflowTask]++
				b.finish(t, e, req.ExecutionID, status, result)
			}
		}
		var err error
		if batch, err = b.fx.Store().ReadAll(ctx, after, 1_000_000); err != nil {
			t.Fatal(err)
		}
		if len(batch) > 0 {
			after = batch[len(batch)-1].Position
		}
	}
	return b.parentScript(t, given[0].Position)
}

// finish appends a child's life as a worker would: scheduling, scheduled, running, the end,
// each decided by the execution aggregate (so each change names the child's parent, as the
// ones of a real worker do).
func (b *bundle) finish(t *testing.T, cause eventstore.Recorded, id string, status execution.Status, result string) {
	t.Helper()
	recorded, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	events := make([]event.Event, len(recorded))
	for i, r := range recorded {
		if events[i], err = r.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	path := []execution.Status{execution.Scheduling, execution.Scheduled, execution.Running, status}
	var proposed []eventstore.Proposed
	for i, to := range path {
		var o execution.Outcome
		if i == len(path)-1 && result != "" {
			o.Result = json.RawMessage(result)
		}
		change, err := x.Transition(to, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Apply(change); err != nil {
			t.Fatal(err)
		}
		p, err := eventstore.NewProposed(change, cause.Metadata.Caused(cause.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		proposed = append(proposed, p)
	}
	if _, err := b.fx.Store().Append(t.Context(), execution.StreamID(id), eventstore.Exact(1), proposed...); err != nil {
		t.Fatalf("end child %s: %v", id, err)
	}
}

// parentScript summarises the parent stream after its request, child ids replaced by
// task/item/attempt so a script reads as the workflow's story.
func (b *bundle) parentScript(t *testing.T, after eventstore.Position) string {
	t.Helper()
	recorded, err := b.fx.Store().ReadStream(t.Context(), execution.StreamID(parentID))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recorded {
		if r.Position == after {
			continue
		}
		line := handlertest.Summary(r)
		if r.Type == "WorkflowStarted" { // the definition is the test's own text: leave it out
			var started wf.WorkflowStarted
			if err := json.Unmarshal(r.Data, &started); err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("WorkflowStarted input=%s", started.Input)
			if len(started.Vars) > 0 {
				line += fmt.Sprintf(" vars=%s", started.Vars)
			}
		}
		line = strings.ReplaceAll(line, " execution="+parentID, "")
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "child_execution=") {
				line = strings.ReplaceAll(line, " "+f, "")
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func (b *bundle) children(t *testing.T) []*execution.ExecutionRequested {
	t.Helper()
	all, err := b.fx.Store().ReadAll(t.Context(), eventstore.Position{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*execution.ExecutionRequested
	for _, r := range all {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if req, ok := e.(*execution.ExecutionRequested); ok && req.ParentID == parentID {
			out = append(out, req)
		}
	}
	return out
}

func same(t *testing.T, got, want string) {
	t.Helper()
	clean := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if clean(got) != clean(want) {
		t.Errorf("parent stream:\n%s\nwant:\n%s", clean(got), clean(want))
	}
}
