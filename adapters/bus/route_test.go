package bus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/enforcement"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
)

func changed(id string, from, to execution.Status, workerID string) execution.ExecutionStatusChanged {
	return execution.ExecutionStatusChanged{ExecutionID: id, From: from, To: to, WorkerID: workerID}
}

func task(id string, from, to execution.Status, parent string) execution.ExecutionStatusChanged {
	c := changed(id, from, to, "")
	c.ParentID = &parent
	return c
}

func TestRoutingKeyAddressesWhatIsForOneWorker(t *testing.T) {
	t.Parallel()
	cases := []struct {
		event event.Event
		want  string
	}{
		{execution.ExecutionScheduled{ExecutionID: "x", WorkerID: "w1.a", Runtime: "shell"}, "worker.w1.a"},
		{changed("x", execution.Running, execution.Canceling, "w1"), "worker.w1"},
		{changed("x", execution.Running, execution.Canceling, ""), "unaddressed.canceling.running.unknown"}, // a workflow's
		{changed("x", execution.Scheduled, execution.Running, "w1"), "unaddressed.running.scheduled.unknown"},
		{changed("x", execution.Running, execution.Completed, "w1"), "unaddressed.completed.running.unknown"},
		{task("x", execution.Running, execution.Completed, "p"), "unaddressed.completed.running.task"},
		{task("x", execution.Running, execution.Completed, ""), "unaddressed.completed.running.top"},
		{requested("x"), "requested.action"},
		{execution.ExecutionRequested{ExecutionID: "x", Action: "core.echo", RunnerType: "local-shell-cmd"}, "requested.action"},
		{execution.ExecutionRequested{ExecutionID: "x", Action: "p.flow", RunnerType: "workflow"}, "requested.workflow"},
		{execution.ExecutionRequested{ExecutionID: "x", Action: "core.ask"}, "requested.ask"},
		{execution.ExecutionRequested{ExecutionID: "x", Action: "core.ask", RunnerType: "workflow"}, "unaddressed"}, // both: every handler
		{enforcement.EnforcementCreated{}, ""}, // not an addressed topic
	}
	for _, c := range cases {
		e := record(t, c.event)[0]
		if got := bus.RoutingKey(e); got != c.want {
			t.Errorf("RoutingKey(%s %s) = %q, want %q", e.Type, e.Data, got, c.want)
		}
	}
}

// TestEachWorkerGetsOnlyWhatIsAddressedToIt: an ExecutionScheduled reaches the one worker it
// names, a move to canceling the one worker running the execution, and a handler that is no
// worker's still gets every event of its topic.
func TestEachWorkerGetsOnlyWhatIsAddressedToIt(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := bustest.New(t, tr)
			c := bustest.NewCollector()
			r := b.NewRouter()
			handlers := map[string]string{} // handler → queue
			addressed := func(name, topic, worker string) {
				r.AddAddressedHandler(name, topic, bus.WorkerKey(worker), bustest.QueueExpiry, c.Handler(name))
				handlers[name] = b.QueueName(topic, name)
			}
			addressed("worker.w1", "ExecutionScheduled", "w1")
			addressed("worker.w2", "ExecutionScheduled", "w2")
			addressed("worker.w1.cancel", "ExecutionStatusChanged", "w1")
			addressed("worker.w2.cancel", "ExecutionStatusChanged", "w2")
			r.AddHandler("canceler", "ExecutionStatusChanged", c.Handler("canceler"))
			handlers["canceler"] = b.QueueName("ExecutionStatusChanged", "canceler")
			// A handler of some statuses: its queue gets those, addressed to a worker or not.
			r.AddStatusHandler("ender", bus.StatusKeys(execution.Completed, execution.Canceling), c.Handler("ender"))
			// A handler of the ends of tasks and of what moves out of paused.
			r.AddStatusHandler("tasks", slices.Concat(bus.TaskKeys(execution.Completed), bus.FromKeys(execution.Paused)), c.Handler("tasks"))
			handlers["tasks"] = b.QueueName("ExecutionStatusChanged", "tasks")
			handlers["ender"] = b.QueueName("ExecutionStatusChanged", "ender")
			startRouter(t, r)

			events := record(t,
				execution.ExecutionScheduled{ExecutionID: "x1", WorkerID: "w1", Runtime: "shell"},
				execution.ExecutionScheduled{ExecutionID: "x2", WorkerID: "w2", Runtime: "shell"},
				execution.ExecutionScheduled{ExecutionID: "x3", WorkerID: "w1", Runtime: "shell"},
				execution.ExecutionScheduled{ExecutionID: "x4", WorkerID: "gone", Runtime: "shell"}, // nobody's queue
				changed("x1", execution.Scheduled, execution.Running, "w1"),
				changed("x1", execution.Running, execution.Canceling, "w1"),
				changed("x2", execution.Running, execution.Canceling, "w2"),
				changed("x9", execution.Running, execution.Canceling, ""),
				changed("x5", execution.Running, execution.Completed, "w1"),
				task("x6", execution.Running, execution.Completed, "p"),
				task("x7", execution.Running, execution.Completed, ""),
				task("x8", execution.Paused, execution.Running, "p"),
			)
			if err := <-publishAsync(b, events...); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"worker.w1":        {"ExecutionScheduled x1", "ExecutionScheduled x3"},
				"worker.w2":        {"ExecutionScheduled x2"},
				"worker.w1.cancel": {"ExecutionStatusChanged x1 canceling"},
				"worker.w2.cancel": {"ExecutionStatusChanged x2 canceling"},
				"canceler": {"ExecutionStatusChanged x1 canceling", "ExecutionStatusChanged x1 running",
					"ExecutionStatusChanged x2 canceling", "ExecutionStatusChanged x5 completed", "ExecutionStatusChanged x6 completed",
					"ExecutionStatusChanged x7 completed", "ExecutionStatusChanged x8 running", "ExecutionStatusChanged x9 canceling"},
				"ender": {"ExecutionStatusChanged x1 canceling", "ExecutionStatusChanged x2 canceling",
					"ExecutionStatusChanged x5 completed", "ExecutionStatusChanged x6 completed", "ExecutionStatusChanged x7 completed",
					"ExecutionStatusChanged x9 canceling"},
				// x5 may be a task (the event does not say), x6 is one, x7 is not; x8 leaves paused.
				"tasks": {"ExecutionStatusChanged x5 completed", "ExecutionStatusChanged x6 completed", "ExecutionStatusChanged x8 running"},
			}
			got := func(h string) []string {
				var out []string
				for _, e := range c.Got(h) {
					payload, err := e.Decode()
					if err != nil {
						t.Fatal(err)
					}
					switch p := payload.(type) {
					case *execution.ExecutionScheduled:
						out = append(out, fmt.Sprintf("%s %s", e.Type, p.ExecutionID))
					case *execution.ExecutionStatusChanged:
						out = append(out, fmt.Sprintf("%s %s %s", e.Type, p.ExecutionID, p.To))
					}
				}
				slices.Sort(out)
				return out
			}
			expectRouted(t, c, r, tr, want, got, func(h string) string { return handlers[h] })
		})
	}
}

func TestAddressedHandlersAreCheckedAtWiring(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.InProcess)
	r := b.NewRouter()
	h := func(context.Context, eventstore.Recorded) error { return nil }
	for name, add := range map[string]func(){
		"not an addressed topic": func() { r.AddAddressedHandler("a", "EnforcementCreated", bus.WorkerKey("w"), bustest.QueueExpiry, h) },
		"every key":              func() { r.AddAddressedHandler("b", "ExecutionScheduled", "#", bustest.QueueExpiry, h) },
		"no key":                 func() { r.AddAddressedHandler("c", "ExecutionScheduled", "", bustest.QueueExpiry, h) },
		"keyed, not addressed":   func() { r.AddKeyedHandler("e", "EnforcementCreated", []string{"x"}, h) },
		"keyed, no keys":         func() { r.AddKeyedHandler("f", "ExecutionRequested", nil, h) },
		"no expiry":              func() { r.AddAddressedHandler("d", "ExecutionScheduled", bus.WorkerKey("w"), 0, h) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			add()
		}()
	}
}

// TestEachRequestReachesOnlyTheEngineThatRunsIt: an ExecutionRequested reaches the scheduler
// for an action a worker runs, the workflow engine for a workflow, the inquiry engine for
// core.ask; one that cannot be classified reaches all three; a handler that takes every
// request still gets every one. On RabbitMQ nothing else waits in their queues.
func TestEachRequestReachesOnlyTheEngineThatRunsIt(t *testing.T) {
	t.Parallel()
	for _, tr := range bustest.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			b := bustest.New(t, tr)
			c := bustest.NewCollector()
			r := b.NewRouter()
			const topic = "ExecutionRequested"
			r.AddKeyedHandler("scheduler", topic, []string{bus.RequestedAction}, c.Handler("scheduler"))
			r.AddKeyedHandler("workflow_start", topic, []string{bus.RequestedWorkflow}, c.Handler("workflow_start"))
			r.AddKeyedHandler("inquiry_ask", topic, []string{bus.RequestedAsk}, c.Handler("inquiry_ask"))
			r.AddHandler("audit", topic, c.Handler("audit"))
			startRouter(t, r)

			events := record(t,
				execution.ExecutionRequested{ExecutionID: "a1", Action: "core.echo", RunnerType: "local-shell-cmd"},
				execution.ExecutionRequested{ExecutionID: "w1", Action: "p.flow", RunnerType: "workflow"},
				execution.ExecutionRequested{ExecutionID: "q1", Action: "core.ask", RunnerType: "inquirer"},
				execution.ExecutionRequested{ExecutionID: "a2", Action: "core.noop"}, // no runner type: the scheduler fails it
				execution.ExecutionRequested{ExecutionID: "b1", Action: "core.ask", RunnerType: "workflow"},
			)
			if err := <-publishAsync(b, events...); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"scheduler":      {"a1", "a2", "b1"},
				"workflow_start": {"b1", "w1"},
				"inquiry_ask":    {"b1", "q1"},
				"audit":          {"a1", "a2", "b1", "q1", "w1"},
			}
			got := func(h string) []string {
				var out []string
				for _, e := range c.Got(h) {
					payload, err := e.Decode()
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, payload.(*execution.ExecutionRequested).ExecutionID)
				}
				slices.Sort(out)
				return out
			}
			expectRouted(t, c, r, tr, want, got, func(h string) string { return b.QueueName(topic, h) })
		})
	}
}

// expectRouted waits until every handler of want has received as many messages as it wants,
// stops consuming, then checks that each received exactly want[h] (as got renders it) and,
// on RabbitMQ, that nothing more waits in its queue: every publish was confirmed, so whatever
// was routed to a queue has been delivered or still waits there.
func expectRouted(t *testing.T, c *bustest.Collector, r *bus.Router, tr bustest.Transport,
	want map[string][]string, got func(handler string) []string, queue func(handler string) string) {
	t.Helper()
	c.WaitUntil(t, waitLong, "every handler to get what is routed to it", func() bool {
		for h, w := range want {
			if len(c.Got(h)) < len(w) {
				return false
			}
		}
		return true
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for h, w := range want {
		if g := got(h); !slices.Equal(g, w) {
			t.Errorf("%s received %q, want %q", h, g, w)
		}
		if tr == bustest.RabbitMQ {
			if n := bustest.QueueDepth(t, queue(h)); n != 0 {
				t.Errorf("%s: %d more messages wait in queue %s", h, n, queue(h))
			}
		}
	}
}
