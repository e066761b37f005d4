// Package workertest runs the dispatch pipeline for tests, on the real pieces: a migrated
// Postgres schema holding the log (schema-checked, as in a deployment), the heartbeat table
// and the executions read model; the relay; a bus (in process or RabbitMQ); the catalogue;
// the scheduler; any number of workers; and the reaper when a test asks for it.
//
//	env := workertest.New(t, workertest.Options{Transport: bustest.InProcess})
//	w := env.AddWorker(worker.Config{Runtimes: []string{"builtin"}, Runner: runner})
//	env.Start()                       // router and relay
//	env.StartWorker(w)                // its first beat: now the scheduler may choose it
//	id := env.Request("core.echo", "builtin", `{"message":"hi"}`)
//	env.WaitStatus(id, execution.Completed)
package workertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/bus/bustest"
	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventschema"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/adapters/runtime"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/handlers/reaper"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/handlers/worker"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/projections/registry"
)

// WaitLong bounds every wait of a test on the pipeline.
const WaitLong = 30 * time.Second

// Options shape an Env.
type Options struct {
	Transport bustest.Transport
	// PublishTwice makes the relay publish every event twice: every handler gets every
	// message twice, as at-least-once delivery allows.
	PublishTwice bool
	// TTL is the scheduler's and the reaper's heartbeat TTL; default 1s, with workers beating
	// every 100ms.
	TTL time.Duration
	// Bus, when set, changes the bus's configuration (bus.Config.Deliveries, say).
	Bus func(*bus.Config)
	// Instrument, when set, wraps every handler the pipeline's router runs
	// (bus.Config.Instrument): to see which handler finished which message.
	Instrument func(handler string, h bus.HandlerFunc) bus.HandlerFunc
	// WrapLog, when set, wraps the log every component of the pipeline uses: to count
	// what they read, say.
	WrapLog func(eventstore.Store) eventstore.Store
}

// Env is a running pipeline.
type Env struct {
	t          testing.TB
	Schema     *pgtest.Schema
	Store      eventstore.Store
	Bus        *bus.Bus
	Router     *bus.Router
	Heartbeats *heartbeat.Store
	ReadModel  *readmodel.DB
	Catalog    *registry.Registry
	Scheduler  *scheduler.Scheduler
	TTL        time.Duration

	publisher relay.Publisher
	workers   []*worker.Worker
	started   bool
}

// New builds the pipeline; add workers, then Start it.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	schema := pgtest.New(t)
	pg, err := pgstore.New(ctx, schema.Pool, pgstore.Config{PollInterval: 50 * time.Millisecond, Logger: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	var store eventstore.Store = eventschema.Guard(pg, v)
	if opts.WrapLog != nil {
		store = opts.WrapLog(store)
	}
	e := &Env{
		t:      t,
		Schema: schema,
		Store:  store,
		Bus: bustest.NewWith(t, opts.Transport, func(c *bus.Config) {
			c.Instrument = opts.Instrument
			if opts.Bus != nil {
				opts.Bus(c)
			}
		}),
		Heartbeats: heartbeat.New(schema.Pool),
		ReadModel:  readmodel.New(schema.Pool),
		Catalog:    registry.New(registry.Config{Logger: bustest.Logger(t)}),
		TTL:        opts.TTL,
	}
	if e.TTL == 0 {
		e.TTL = time.Second
	}
	e.publisher = e.Bus
	if opts.PublishTwice {
		e.publisher = twice{e.Bus}
	}
	e.Router = e.Bus.NewRouter()
	e.Scheduler, err = scheduler.New(scheduler.Config{Log: e.Store, Workers: e.Heartbeats, TTL: e.TTL, Logger: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	scheduler.Register(e.Router, e.Scheduler)

	e.background("catalogue", func(ctx context.Context) error { return e.Catalog.Follow(ctx, e.Store) })
	proj, err := projections.New(projections.Config{
		Projection: projections.Executions, Store: e.Store, Target: e.ReadModel,
		Logger: bustest.Logger(t), RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.background("executions projection", proj.Run)
	return e
}

// twice publishes everything two times.
type twice struct{ relay.Publisher }

func (p twice) Publish(ctx context.Context, events ...eventstore.Recorded) error {
	if err := p.Publisher.Publish(ctx, events...); err != nil {
		return err
	}
	return p.Publisher.Publish(ctx, events...)
}

// background runs fn until the test ends, and fails the test if it returns an error.
func (e *Env) background(what string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				e.t.Errorf("workertest: %s: %v", what, err)
			}
		case <-time.After(WaitLong):
			e.t.Errorf("workertest: %s did not stop", what)
		}
	})
}

// AddWorker makes a worker on the pipeline's log, heartbeat table and catalogue (unless cfg
// sets its own) with fast beats, and registers its handlers; Start starts it. Its clean Stop
// runs when the test ends.
func (e *Env) AddWorker(cfg worker.Config) *worker.Worker {
	e.t.Helper()
	if e.started {
		e.t.Fatal("workertest: AddWorker after Start: the router is running")
	}
	if cfg.Log == nil {
		cfg.Log = e.Store
	}
	if cfg.Heartbeats == nil {
		cfg.Heartbeats = e.Heartbeats
	}
	if cfg.Catalog == nil {
		cfg.Catalog = e.Catalog
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = e.TTL / 10
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if cfg.QueueExpiry == 0 {
		cfg.QueueExpiry = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = bustest.Logger(e.t)
	}
	w, err := worker.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	w.Register(e.Router)
	e.workers = append(e.workers, w)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			e.t.Errorf("workertest: stop worker %s: %v", w.ID(), err)
		}
	})
	return w
}

// Start starts the handlers, then the relay. Start workers after it (StartWorker): a
// worker's first beat must not come before its queues exist.
func (e *Env) Start() {
	e.t.Helper()
	e.started = true
	if err := e.Router.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := e.Router.Close(); err != nil {
			e.t.Errorf("workertest: close router: %v", err)
		}
	})
	rl, err := relay.New(relay.Config{
		Store: e.Store, Checkpoints: checkpoint.NewPostgres(e.Schema.Pool), Publisher: e.publisher,
		Logger: bustest.Logger(e.t), MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.background("relay", rl.Run) // registered after the router's cleanup: stops first
}

// StartWorker starts w; cancelling the returned function kills it (its beats stop, nothing
// is deregistered), as a crashed process would leave things.
func (e *Env) StartWorker(w *worker.Worker) (kill func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.Start(ctx); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	e.t.Cleanup(cancel)
	return cancel
}

// StartReaper runs a reaper on the pipeline (cfg's zero fields filled: the pipeline's log,
// tables, scheduler and TTL, a 50ms interval).
func (e *Env) StartReaper(cfg reaper.Config) *reaper.Reaper {
	e.t.Helper()
	if cfg.Log == nil {
		cfg.Log = e.Store
	}
	if cfg.Heartbeats == nil {
		cfg.Heartbeats = e.Heartbeats
	}
	if cfg.Executions == nil {
		cfg.Executions = e.ReadModel
	}
	if cfg.Scheduler == nil {
		cfg.Scheduler = e.Scheduler
	}
	if cfg.TTL == 0 {
		cfg.TTL = e.TTL
	}
	if cfg.Interval == 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = bustest.Logger(e.t)
	}
	r, err := reaper.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.background("reaper", r.Run)
	return r
}

// RegisterPack appends a pack's registration, as the pack loader would.
func (e *Env) RegisterPack(p pack.PackRegistered) {
	e.t.Helper()
	e.append(pack.StreamID(p.Ref), eventstore.Any, p)
}

// Request appends an ExecutionRequested for action and returns the execution's id.
func (e *Env) Request(action, runnerType, params string) string {
	e.t.Helper()
	id := ulid.Make().String()
	r := execution.ExecutionRequested{ExecutionID: id, Action: action, RunnerType: runnerType}
	if params != "" {
		r.Parameters = json.RawMessage(params)
	}
	e.append(execution.StreamID(id), eventstore.NoStream, r)
	return id
}

// Append appends payloads to a stream, for tests that write what another component would.
func (e *Env) Append(stream string, payloads ...event.Event) {
	e.t.Helper()
	e.append(stream, eventstore.Any, payloads...)
}

func (e *Env) append(stream string, expected eventstore.Expected, payloads ...event.Event) {
	e.t.Helper()
	proposed := make([]eventstore.Proposed, len(payloads))
	for i, p := range payloads {
		var err error
		if proposed[i], err = eventstore.NewProposed(p, event.Metadata{CorrelationID: stream, Actor: "workertest"}); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.Store.Append(context.Background(), stream, expected, proposed...); err != nil {
		e.t.Fatalf("workertest: append to %s: %v", stream, err)
	}
}

// Execution folds an execution's stream.
func (e *Env) Execution(id string) (*execution.Execution, []eventstore.Recorded) {
	e.t.Helper()
	recorded, err := e.Store.ReadStream(context.Background(), execution.StreamID(id))
	if err != nil {
		e.t.Fatal(err)
	}
	events := make([]event.Event, len(recorded))
	for i, r := range recorded {
		if events[i], err = r.Decode(); err != nil {
			e.t.Fatal(err)
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		e.t.Fatal(err)
	}
	return x, recorded
}

// WaitStatus polls the execution's stream until its status is one of want, and returns its
// last status change.
func (e *Env) WaitStatus(id string, want ...execution.Status) execution.ExecutionStatusChanged {
	e.t.Helper()
	deadline := time.Now().Add(WaitLong)
	for {
		x, recorded := e.Execution(id)
		for _, s := range want {
			if x.Status() == s {
				return lastChange(e.t, recorded)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %s is %s after %s, want %v\n%s", id, x.Status(), WaitLong, want, Script(recorded))
		}
		time.Sleep(10 * time.Millisecond) // polling the log
	}
}

func lastChange(t testing.TB, recorded []eventstore.Recorded) execution.ExecutionStatusChanged {
	for i := len(recorded) - 1; i >= 0; i-- {
		if recorded[i].Type == (execution.ExecutionStatusChanged{}).EventType() {
			var ch execution.ExecutionStatusChanged
			if err := json.Unmarshal(recorded[i].Data, &ch); err != nil {
				t.Fatal(err)
			}
			return ch
		}
	}
	return execution.ExecutionStatusChanged{}
}

// Script lists a stream as "Type from→to reason" lines, for failure messages.
func Script(recorded []eventstore.Recorded) string {
	out := ""
	for _, r := range recorded {
		out += fmt.Sprintf("\t%s %s\n", r.Type, r.Data)
	}
	return out
}

// Runner is a runtime that records every run and does what Fn says (by default: completes
// with the result {"ok":true}).
type Runner struct {
	Fn func(ctx context.Context, req runtime.Request) runtime.Outcome

	mu    sync.Mutex
	calls []runtime.Request
	wake  chan struct{}
}

var _ runtime.Runner = (*Runner)(nil)

// Run records req and runs Fn.
func (r *Runner) Run(ctx context.Context, req runtime.Request) runtime.Outcome {
	r.mu.Lock()
	r.calls = append(r.calls, req)
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	r.mu.Unlock()
	if r.Fn == nil {
		return runtime.Outcome{Status: execution.Completed, Result: json.RawMessage(`{"ok":true}`)}
	}
	return r.Fn(ctx, req)
}

// Calls returns every request run so far.
func (r *Runner) Calls() []runtime.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runtime.Request(nil), r.calls...)
}

// WaitCalls blocks until at least n runs have started.
func (r *Runner) WaitCalls(t testing.TB, n int) {
	t.Helper()
	deadline := time.NewTimer(WaitLong)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := len(r.calls)
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("workertest: %d runs after %s, want %d", got, WaitLong, n)
		}
	}
}

// Block is a Runner.Fn that runs until release is closed (then completes) or the run is
// cancelled (then reports how, as a runtime does).
func Block(release <-chan struct{}) func(ctx context.Context, req runtime.Request) runtime.Outcome {
	return func(ctx context.Context, _ runtime.Request) runtime.Outcome {
		select {
		case <-release:
			return runtime.Outcome{Status: execution.Completed}
		case <-ctx.Done():
			status, reason := runtime.Interrupted(ctx)
			return runtime.Outcome{Status: status, Reason: reason}
		}
	}
}
