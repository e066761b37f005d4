// Package worker is the worker role: it runs the executions the scheduler places on it.
//
// A worker is one process start with a fresh id. It registers (WorkerRegistered on
// worker-<id>), then beats in the heartbeat table every HeartbeatInterval with its load, which
// is how the scheduler finds it and the reaper notices when it dies. Its handler
// "worker.<id>" receives every ExecutionScheduled and keeps those naming it; each becomes a
// job, run as soon as one of its MaxConcurrency slots is free. The handler only queues the
// job and returns, so the router is never held for the length of a run; a crash loses the
// queue, but the log still says scheduled or running, and once the heartbeat stops the
// reaper places again what was scheduled (it never started) and abandons what was running.
// A job folds the execution and prepares the run (the action from the catalogue, the sealed
// parameters opened, the entry point checked against the digest registered with the pack);
// then it appends scheduled → running with the version it read, and only if the execution
// is still scheduled on this worker at that version (one run per execution, however often
// the message comes, and none once the reaper has placed it elsewhere); only then does the
// process start, so the log says running only for what may have run. It runs the action on
// the Runner and appends its outcome. Its second handler "worker.<id>.cancel"
// cancels the run of an execution that moved to canceling; the outcome then goes canceling
// → cancelled, or to how the run ended if it ended first.
//
// Both handlers are addressed (bus.Router.AddAddressedHandler): each worker's queues are
// bound with its own routing key (bus.WorkerKey), so an ExecutionScheduled reaches only the
// worker it names, and of the status changes only a move to canceling of an execution this
// worker runs reaches it. On RabbitMQ the queues are its own and expire once the worker is
// gone, so that queues do not pile up as workers come and go; what was addressed to a dead
// worker is settled by the reaper from the log, not from its queue. The handlers still check
// that what they get is theirs.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/worker"
)

// HandlerName is the persisted name of a worker's handler of ExecutionScheduled.
func HandlerName(workerID string) string { return "worker." + workerID }

// CancelHandlerName is the persisted name of a worker's handler of cancels.
func CancelHandlerName(workerID string) string { return "worker." + workerID + ".cancel" }

// Reasons a run's context is cancelled; they end up in the reason of the outcome.
var (
	errCancelRequested = errors.New("cancel requested")
	errStopping        = errors.New("the worker stopped before the run ended")
	errDeclaredLost    = errors.New("the worker was declared lost (no heartbeat) during the run")
)

// Worker runs executions.
type Worker struct {
	cfg Config
	id  string
	log *slog.Logger
	// writes reports the log being unreachable for the jobs' writes, once per outage.
	writes *outage.Log

	// life is the parent of every run and of every write a job makes; Stop ends it last.
	life     context.Context
	endLife  context.CancelFunc
	runs     sync.WaitGroup
	beatStop chan struct{}
	beatDone chan struct{}
	beatNow  chan struct{} // a slot freed on a full worker: tell the scheduler now

	mu        sync.Mutex
	accepting bool
	started   bool
	stopped   bool
	jobs      map[string]bool // executions accepted and not finished: queued or running
	queue     []job
	active    int                                // goroutines running jobs
	running   map[string]context.CancelCauseFunc // cancels of the runs under way
}

// New validates cfg and returns a worker. Register its handlers on a router, start the
// router, then Start the worker: its first heartbeat must not come before its queues exist.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	cfg = cfg.withDefaults()
	life, end := context.WithCancel(context.Background())
	log := cfg.Logger.With("worker_id", cfg.ID)
	return &Worker{
		cfg:       cfg,
		id:        cfg.ID,
		log:       log,
		writes:    outage.NewLog(log, "worker: record what runs"),
		life:      life,
		endLife:   end,
		beatStop:  make(chan struct{}),
		beatDone:  make(chan struct{}),
		beatNow:   make(chan struct{}, 1),
		accepting: true,
		jobs:      map[string]bool{},
		running:   map[string]context.CancelCauseFunc{},
	}, nil
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.id }

// Runtimes are the canonical runner types the worker registers.
func (w *Worker) Runtimes() []string { return append([]string(nil), w.cfg.Runtimes...) }

// Bindings are what the handlers of every worker bind, whatever its id: topic → routing-key
// patterns (bus.WorkerKey of any id). A process that relays the log for workers it does not
// host names them with bus.Bus.Consumes, so that its bus, sending only what some handler
// binds (bus.Config.OnlyConsumed), still sends what is addressed to them. A test checks that
// they cover Register's.
func Bindings() map[string][]string {
	every := bus.WorkerKey("#")
	return map[string][]string{
		execution.ExecutionScheduled{}.EventType():     {every},
		execution.ExecutionStatusChanged{}.EventType(): {every},
	}
}

// Register subscribes the worker's two handlers, each on its own transient queue that
// receives only what is addressed to this worker.
func (w *Worker) Register(r *bus.Router) {
	key := bus.WorkerKey(w.id)
	r.AddAddressedHandler(HandlerName(w.id), execution.ExecutionScheduled{}.EventType(), key, w.cfg.QueueExpiry, w.Handle)
	r.AddAddressedHandler(CancelHandlerName(w.id), execution.ExecutionStatusChanged{}.EventType(), key, w.cfg.QueueExpiry, w.HandleCancel)
}

// Start registers the worker and beats once, then keeps beating in the background. When ctx
// ends the beats stop as if the process had died, and the reaper declares the worker lost:
// a clean shutdown calls Stop instead (Run does both), which beats on while it drains.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("start worker: already started")
	}
	w.started = true
	w.mu.Unlock()

	if err := w.register(ctx); err != nil {
		close(w.beatDone) // no beat loop will run: Stop must not wait for one
		return err
	}
	if _, err := w.beat(ctx); err != nil {
		close(w.beatDone)
		return err
	}
	w.log.Info("worker started", "name", w.cfg.Name, "host", w.cfg.Host, "runtimes", w.cfg.Runtimes,
		"max_concurrency", w.cfg.MaxConcurrency)
	go w.beatLoop(ctx)
	return nil
}

// Run starts the worker and stops it cleanly when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.DrainTimeout+time.Minute)
	defer cancel()
	return w.Stop(stopCtx)
}

// register appends WorkerRegistered unless the worker's stream already says it is.
func (w *Worker) register(ctx context.Context) error {
	registered, version, err := w.lifecycle(ctx)
	if err != nil || registered {
		return err
	}
	e := worker.WorkerRegistered{
		WorkerID: w.id, Name: w.cfg.Name, Host: w.cfg.Host,
		Capabilities:   worker.Capabilities{Runtimes: w.cfg.Runtimes},
		MaxConcurrency: w.cfg.MaxConcurrency, Version: w.cfg.Version,
	}
	if err := w.appendLifecycle(ctx, version, e); err != nil {
		return fmt.Errorf("register worker %s: %w", w.id, err)
	}
	return nil
}

// lifecycle reads the worker's stream: whether its last lifecycle event is a registration
// (domain/worker Lifecycle), and the stream's version.
func (w *Worker) lifecycle(ctx context.Context) (registered bool, version int64, err error) {
	stream := worker.StreamID(w.id)
	recorded, err := w.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return false, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	var l worker.Lifecycle
	for _, r := range recorded {
		if e, err := r.Decode(); err == nil { // only lifecycle events count; others are no change
			l.Apply(e)
		}
	}
	return l.Registered(), int64(len(recorded)), nil
}

func (w *Worker) appendLifecycle(ctx context.Context, version int64, e event.Event) error {
	p, err := eventstore.NewProposed(e, eventMetadata(w.id))
	if err != nil {
		return err
	}
	_, err = w.cfg.Log.Append(ctx, worker.StreamID(w.id), eventstore.Exact(version), p)
	return err
}

// eventMetadata is the metadata of what the worker records on its own initiative: its
// lifecycle has no cause in the log.
func eventMetadata(workerID string) event.Metadata {
	return event.Metadata{CorrelationID: worker.StreamID(workerID), Actor: "worker:" + workerID}
}

// load is what the worker has in hand, queued and running, and whether it is draining: while
// it stops, the scheduler sends it nothing more yet does not take it for dead.
func (w *Worker) load() (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.jobs), !w.accepting
}

func (w *Worker) beat(ctx context.Context) (created bool, err error) {
	running, draining := w.load()
	var envs json.RawMessage
	if w.cfg.PackEnvs != nil {
		if st := w.cfg.PackEnvs.Status(); len(st) > 0 {
			envs, _ = json.Marshal(st) // plain strings: always encodes
		}
	}
	created, err = w.cfg.Heartbeats.Beat(ctx, heartbeat.Worker{
		ID: w.id, Name: w.cfg.Name, Host: w.cfg.Host, Runtimes: w.cfg.Runtimes,
		MaxConcurrency: w.cfg.MaxConcurrency, Running: running, Draining: draining, PackEnvs: envs,
	})
	if err != nil {
		return false, fmt.Errorf("worker %s: %w", w.id, err)
	}
	return created, nil
}

func (w *Worker) beatLoop(ctx context.Context) {
	defer close(w.beatDone)
	down := outage.NewLog(w.log, "worker heartbeat")
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.beatStop:
			return
		case <-t.C:
		case <-w.beatNow:
		}
		created, err := w.beat(ctx)
		if err != nil {
			// The next beat may get through; if none does within the TTL, the reaper declares
			// this worker lost, which is right: nobody can tell it from a dead one.
			down.Failed(err)
			continue
		}
		down.Recovered()
		if created {
			w.rejoin(ctx)
		}
	}
}

// rejoin follows a beat that found the worker's row gone: the reaper declared it lost (it
// was cut off from the database longer than the TTL), abandoned its runs and placed its
// queue on other workers. The runs are wasted; the worker stops them, forgets what it had
// queued (a job it kept would not start anyway: it is no longer scheduled here) and
// registers again, so that new work can come.
func (w *Worker) rejoin(ctx context.Context) {
	w.log.Warn("worker was declared lost; registering again")
	w.mu.Lock()
	for _, id := range w.dropQueueLocked() {
		w.log.Info("dropped a queued execution", "execution_id", id)
	}
	for _, cancel := range w.running {
		cancel(errDeclaredLost)
	}
	w.mu.Unlock()
	if err := w.register(ctx); err != nil {
		w.log.Error("register again", "error", err.Error())
	}
}

// dropQueueLocked empties the queue and returns the executions it held.
func (w *Worker) dropQueueLocked() []string {
	ids := make([]string, 0, len(w.queue))
	for _, j := range w.queue {
		delete(w.jobs, j.executionID)
		ids = append(ids, j.executionID)
	}
	w.queue = nil
	return ids
}

// Stop shuts the worker down cleanly: it takes no more work, hands back what it queued but
// never started (scheduled → scheduling, to be placed on another worker), waits up to
// DrainTimeout for the runs under way (beating meanwhile, so it is not taken for dead),
// kills those still running, then deregisters and removes its heartbeat. ctx bounds every
// wait and write: Stop returns when it ends, whatever is left (the reaper settles it).
// Stop the router after the worker, so that cancels still reach runs that are draining.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped, w.accepting = true, false
	queued := w.queue
	w.dropQueueLocked()
	started := w.started
	w.mu.Unlock()
	defer w.endLife()

	var errs []error
	if started {
		if _, err := w.beat(ctx); err != nil {
			w.log.Warn("heartbeat failed", "error", err.Error())
		}
	}
	for _, j := range queued {
		if err := w.handBack(ctx, j, fmt.Sprintf("worker %s stopped before it started the run", w.id)); err != nil {
			errs = append(errs, err)
		}
	}
	if !w.drain(ctx, w.cfg.DrainTimeout) {
		w.mu.Lock()
		w.log.Warn("runs did not end in time; killing them", "runs", len(w.running), "drain_timeout", w.cfg.DrainTimeout)
		for _, cancel := range w.running {
			cancel(errStopping)
		}
		w.mu.Unlock()
		if !w.drain(ctx, time.Minute) {
			errs = append(errs, fmt.Errorf("stop worker %s: runs still going after they were killed", w.id))
		}
	}
	if !started {
		return errors.Join(errs...)
	}
	close(w.beatStop)
	select {
	case <-w.beatDone:
	case <-ctx.Done():
		return errors.Join(append(errs, fmt.Errorf("stop worker %s: %w", w.id, ctx.Err()))...)
	}

	registered, version, err := w.lifecycle(ctx)
	if err == nil && registered {
		err = w.appendLifecycle(ctx, version, worker.WorkerDeregistered{WorkerID: w.id, Reason: "stopped"})
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("deregister worker %s: %w", w.id, err))
	}
	if err := w.cfg.Heartbeats.Remove(ctx, w.id); err != nil {
		errs = append(errs, err)
	}
	w.log.Info("worker stopped")
	return errors.Join(errs...)
}

// drain waits up to d (and no longer than ctx) for every job to finish; false if some are
// still going.
func (w *Worker) drain(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		w.runs.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
