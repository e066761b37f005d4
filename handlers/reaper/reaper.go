// Package reaper makes sure no execution waits forever. Once a second (one reaper at a time,
// under postgres.Lead) it:
//
//   - declares lost every worker whose heartbeat is older than the TTL: WorkerDeregistered
//     {lost: true, reason "no heartbeat for Ns"}, then removes its heartbeat row;
//   - settles every execution still in the hands of a worker that has left (lost, stopped,
//     or never registered), naming the worker in the reason: one still scheduled there never
//     started, so it goes back to scheduling and is placed again (at most
//     execution.MaxPlacements times); one running or canceling there may have run, so it is
//     abandoned;
//   - places again a placement a live worker has not started within ScheduledDeadline while
//     its beat says it holds fewer executions than the log gave it, and abandons a canceling
//     execution whose worker has not ended the run within CancelDeadline;
//   - retries the placement of executions waiting in scheduling, and fails those that have
//     waited past the scheduling deadline with "no worker for runtime X" (scheduler.Retry);
//     moves on those still requested after that deadline (their ExecutionRequested was lost
//     or poisoned) as the scheduler would, and hands a workflow still requested to the
//     workflow engine (WorkflowStart);
//   - releases the executions delayed until a not_before that has come (a workflow task's
//     delay, a retry's backoff): delayed → scheduling, then placed as above (scheduler.Retry).
//
// It finds executions through the executions read model, which lags the log: every decision
// is taken again on the execution's folded stream and appended with its expected version, so
// a stale row costs a read, never a wrong transition. Abandoning does not depend on the
// heartbeat row (which is gone once the worker is declared lost) but on the worker's stream,
// so an execution the read model shows late is still settled on a later pass.
//
// Placing again is safe against a worker that is slow rather than dead: a worker starts a
// run only by appending scheduled → running on itself, with the version it read, so a late
// ExecutionScheduled reaching the old worker finds the execution no longer its own.
package reaper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/worker"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/projections/executions"
)

// Name is the reaper's leadership lock: run it as postgres.Lead(ctx, pool, reaper.Name, r.Run).
const Name = "reaper"

// Defaults of Config.
const (
	DefaultInterval           = time.Second
	DefaultSchedulingDeadline = 60 * time.Second
	// DefaultScheduledDeadline is how long a live worker may hold a placement without
	// starting it before the reaper looks whether the worker has it at all. Long, because a
	// busy worker queues a backlog on purpose; it only acts when the worker's beat says it
	// holds fewer executions than were placed on it.
	DefaultScheduledDeadline = 5 * time.Minute
	// DefaultCancelDeadline is how long a worker may take to end a run after a cancel (it
	// kills the process group at once) before the execution is abandoned.
	DefaultCancelDeadline = 2 * time.Minute
)

// Log is what the reaper needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Heartbeats is the liveness table (adapters/heartbeat).
type Heartbeats interface {
	Live(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error)
	Lost(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error)
	Remove(ctx context.Context, workerID string) error
}

// Executions queries the executions read model (adapters/readmodel).
type Executions interface {
	ListExecutions(ctx context.Context, f executions.Filter) (executions.Page, error)
}

// Scheduler retries the placement of a waiting execution, or releases a delayed one whose
// not_before has come (handlers/scheduler).
type Scheduler interface {
	Retry(ctx context.Context, executionID string, now time.Time, maxWait time.Duration) (scheduler.Result, error)
}

// Config configures a Reaper.
type Config struct {
	Log        Log
	Heartbeats Heartbeats
	Executions Executions
	Scheduler  Scheduler
	// TTL is the heartbeat age past which a worker is lost; scheduler.DefaultTTL if 0. Use the
	// scheduler's: a worker it still chooses must not be declared lost.
	TTL time.Duration
	// Interval is the time between passes; DefaultInterval if 0.
	Interval time.Duration
	// SchedulingDeadline is how long an execution may wait for a worker, from when it entered
	// scheduling; DefaultSchedulingDeadline if 0.
	SchedulingDeadline time.Duration
	// ScheduledDeadline is how long a placement on a live worker may wait to start before it
	// is placed again, when the worker does not hold it; DefaultScheduledDeadline if 0.
	ScheduledDeadline time.Duration
	// CancelDeadline is how long a canceling execution's worker may take to end the run
	// before it is abandoned; DefaultCancelDeadline if 0.
	CancelDeadline time.Duration
	// WorkflowStart re-delivers the ExecutionRequested of a workflow execution still
	// requested SchedulingDeadline after it was requested (its message was lost or poisoned)
	// to the workflow engine, which alone moves it on (workflow.Engine.Start, idempotent);
	// nil leaves such executions alone.
	WorkflowStart func(ctx context.Context, requested eventstore.Recorded) error
	Now           func() time.Time // time.Now if nil
	Logger        *slog.Logger
}

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	for name, missing := range map[string]bool{
		"event log": c.Log == nil, "heartbeat table": c.Heartbeats == nil,
		"executions read model": c.Executions == nil, "scheduler": c.Scheduler == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("no %s", name))
		}
	}
	for name, d := range map[string]time.Duration{
		"ttl": c.TTL, "interval": c.Interval, "scheduling deadline": c.SchedulingDeadline,
		"scheduled deadline": c.ScheduledDeadline, "cancel deadline": c.CancelDeadline,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: want >= 0", name, d))
		}
	}
	return errors.Join(errs...)
}

// Reaper settles what nobody else will.
type Reaper struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and returns a Reaper.
func New(cfg Config) (*Reaper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("reaper config: %w", err)
	}
	cfg.TTL = cmp.Or(cfg.TTL, scheduler.DefaultTTL)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.SchedulingDeadline = cmp.Or(cfg.SchedulingDeadline, DefaultSchedulingDeadline)
	cfg.ScheduledDeadline = cmp.Or(cfg.ScheduledDeadline, DefaultScheduledDeadline)
	cfg.CancelDeadline = cmp.Or(cfg.CancelDeadline, DefaultCancelDeadline)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Reaper{cfg: cfg, log: cfg.Logger.With("component", Name)}, nil
}

// Run makes a pass every Interval until ctx ends (then nil). A failed pass is logged and
// the next one tries again: the reaper is the last resort, it must not give up.
func (r *Reaper) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("reaper pass failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass does one round: lost workers, their executions, waiting executions. It goes on past
// a failure on one worker or execution and returns every failure joined.
func (r *Reaper) Pass(ctx context.Context) error {
	return errors.Join(r.declareLost(ctx), r.settleOrphans(ctx), r.retryWaiting(ctx))
}

// declareLost deregisters the workers that stopped beating and removes their rows.
func (r *Reaper) declareLost(ctx context.Context) error {
	lost, err := r.cfg.Heartbeats.Lost(ctx, r.cfg.TTL)
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range lost {
		reason := fmt.Sprintf("no heartbeat for %s", max(w.Age.Round(time.Second), time.Second))
		if err := r.deregister(ctx, w.ID, reason); err != nil {
			errs = append(errs, err)
			continue
		}
		// Only once the log says the worker is gone: a pass that fails before this point
		// finds the worker lost again next time.
		if err := r.cfg.Heartbeats.Remove(ctx, w.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reaper) deregister(ctx context.Context, workerID, reason string) error {
	stream := worker.StreamID(workerID)
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if l := lifecycleOf(recorded); !l.registered {
		return nil // deregistered already (it stopped, or an earlier pass got here)
	}
	last := recorded[len(recorded)-1]
	p, err := eventstore.NewProposed(worker.WorkerDeregistered{WorkerID: workerID, Reason: reason, Lost: true},
		last.Metadata.Caused(last.ID.String()))
	if err != nil {
		return err
	}
	if _, err := r.cfg.Log.Append(ctx, stream, eventstore.Exact(int64(len(recorded))), p); err != nil {
		return fmt.Errorf("declare worker %s lost: %w", workerID, err)
	}
	r.log.Warn("worker lost", "worker_id", workerID, "reason", reason)
	return nil
}

// lifecycle is a worker's state as its stream tells it.
type lifecycle struct {
	registered bool
	why        string              // why it left; empty while registered
	cause      eventstore.Recorded // the event it left with (zero if it never registered)
}

func lifecycleOf(recorded []eventstore.Recorded) lifecycle {
	l := lifecycle{why: "never registered"}
	for _, rec := range recorded {
		e, err := rec.Decode()
		if err != nil {
			continue // a foreign or corrupt event is not a lifecycle change
		}
		switch e := e.(type) {
		case *worker.WorkerRegistered:
			l = lifecycle{registered: true}
		case *worker.WorkerDeregistered:
			l = lifecycle{why: e.Reason, cause: rec}
			if e.Lost {
				l.why = "lost: " + e.Reason
			}
		}
	}
	return l
}

// settleOrphans settles the executions in the hands of workers that have left, and those a
// live worker has let wait past a deadline. Of a worker that left, what was scheduled there
// never started and is placed again (scheduled → scheduling, then the scheduler's Retry);
// what was running or canceling may have run and is abandoned (execution.WorkerLeft). Of a
// live worker, a placement it has not started within ScheduledDeadline while it holds fewer
// executions than the log gave it (it never received some: a lost message, a worker that
// restarted under the same id) is placed again, and a cancel it has not answered within
// CancelDeadline ends abandoned.
func (r *Reaper) settleOrphans(ctx context.Context) error {
	active, err := r.list(ctx, execution.Scheduled, execution.Running, execution.Canceling)
	if err != nil {
		return err
	}
	byWorker := map[string][]executions.Execution{}
	for _, x := range active {
		if x.Worker != "" {
			byWorker[x.Worker] = append(byWorker[x.Worker], x)
		}
	}
	var live map[string]heartbeat.Worker // read once, when a live worker's deadlines are due
	var errs []error
	for workerID, xs := range byWorker {
		stream := worker.StreamID(workerID)
		recorded, err := r.cfg.Log.ReadStream(ctx, stream)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", stream, err))
			continue
		}
		l := lifecycleOf(recorded)
		if l.registered {
			if !r.overdue(xs) {
				continue // it will report on them itself
			}
			if live == nil {
				if live, err = r.liveWorkers(ctx); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			errs = append(errs, r.chase(ctx, workerID, xs, live))
			continue
		}
		// A worker cut off for longer than the TTL may still beat once it is back; its row
		// must go so that its next beat tells it to register again, or the scheduler would
		// keep choosing it while this loop takes back what it gets.
		if err := r.cfg.Heartbeats.Remove(ctx, workerID); err != nil {
			errs = append(errs, err)
		}
		for _, x := range xs {
			if err := r.workerLeft(ctx, x.ID, workerID, l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// workerLeft settles one execution of a worker that has left, as the domain decides, and
// places it again at once if it never started.
func (r *Reaper) workerLeft(ctx context.Context, executionID, workerID string, l lifecycle) error {
	return r.settle(ctx, executionID, l.cause, func(x *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
		return x.WorkerLeft(workerID, l.why)
	})
}

// settle folds the execution, lets decide choose its change, and appends it with the
// version it read; cause, when set, is the event the change follows from (else the
// execution's latest). An execution sent back to scheduling is placed again at once.
func (r *Reaper) settle(ctx context.Context, executionID string, cause eventstore.Recorded,
	decide func(*execution.Execution) (execution.ExecutionStatusChanged, bool, error)) error {
	stream := execution.StreamID(executionID)
	x, last, err := r.fold(ctx, stream)
	if err != nil {
		return err
	}
	ch, ok, err := decide(x)
	if err != nil || !ok {
		return err // settled or placed elsewhere meanwhile: the read model has not caught up
	}
	if cause.StreamID == "" {
		cause = last
	}
	p, err := eventstore.NewProposed(ch, last.Metadata.Caused(cause.ID.String()))
	if err != nil {
		return err
	}
	if _, err := r.cfg.Log.Append(ctx, stream, eventstore.Exact(x.Version()), p); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil // its worker's report or a cancel got in first; the next pass looks again
		}
		return fmt.Errorf("record %s → %s of execution %s: %w", ch.From, ch.To, executionID, err)
	}
	if ch.To != execution.Scheduling {
		r.log.Warn("execution abandoned", "execution_id", executionID, "worker_id", ch.WorkerID, "reason", ch.Reason)
		return nil
	}
	r.log.Warn("execution placed again", "execution_id", executionID, "worker_id", ch.WorkerID, "reason", ch.Reason)
	_, err = r.cfg.Scheduler.Retry(ctx, executionID, r.cfg.Now(), r.cfg.SchedulingDeadline)
	if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
		return fmt.Errorf("place execution %s again: %w", executionID, err)
	}
	return nil
}

// overdue reports whether a live worker's executions include one past its deadline.
func (r *Reaper) overdue(xs []executions.Execution) bool {
	now := r.cfg.Now()
	for _, x := range xs {
		switch {
		case x.Status == execution.Scheduled && now.Sub(x.UpdatedAt) >= r.cfg.ScheduledDeadline:
			return true
		case x.Status == execution.Canceling && now.Sub(x.UpdatedAt) >= r.cfg.CancelDeadline:
			return true
		}
	}
	return false
}

func (r *Reaper) liveWorkers(ctx context.Context) (map[string]heartbeat.Worker, error) {
	ws, err := r.cfg.Heartbeats.Live(ctx, r.cfg.TTL)
	if err != nil {
		return nil, fmt.Errorf("list live workers: %w", err)
	}
	live := make(map[string]heartbeat.Worker, len(ws))
	for _, w := range ws {
		live[w.ID] = w
	}
	return live, nil
}

// chase enforces the deadlines of a registered worker's executions. A worker without a
// fresh beat is left alone: the TTL declares it lost sooner than any deadline here.
func (r *Reaper) chase(ctx context.Context, workerID string, xs []executions.Execution, live map[string]heartbeat.Worker) error {
	hb, ok := live[workerID]
	if !ok {
		return nil
	}
	now := r.cfg.Now()
	// A worker beats the number of executions it holds, queued or running. Fewer than the
	// log placed on it means some never reached it. Which ones cannot be told, so every
	// placement past the deadline goes back: one the worker does hold is then simply not
	// started by it (it starts a run only by appending scheduled → running at the version
	// it read, on itself), so a wrong guess costs a placement, never a second run.
	holdsAll := hb.Running >= len(xs)
	var errs []error
	for _, x := range xs {
		age := now.Sub(x.UpdatedAt)
		switch {
		case x.Status == execution.Scheduled && age >= r.cfg.ScheduledDeadline && !holdsAll:
			why := fmt.Sprintf("worker %s did not start it within %s, and holds %d of the %d placed on it",
				workerID, r.cfg.ScheduledDeadline, hb.Running, len(xs))
			errs = append(errs, r.settle(ctx, x.ID, eventstore.Recorded{}, func(cur *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
				return cur.PlaceAgain(workerID, why)
			}))
		case x.Status == execution.Canceling && age >= r.cfg.CancelDeadline:
			why := fmt.Sprintf("worker %s did not end the run within %s of the cancel", workerID, r.cfg.CancelDeadline)
			errs = append(errs, r.settle(ctx, x.ID, eventstore.Recorded{}, func(cur *execution.Execution) (execution.ExecutionStatusChanged, bool, error) {
				if cur.Status() != execution.Canceling || cur.WorkerID() != workerID {
					return execution.ExecutionStatusChanged{}, false, nil
				}
				ch, err := cur.Transition(execution.Abandoned, execution.Outcome{Reason: why, WorkerID: workerID})
				return ch, err == nil, err
			}))
		}
	}
	return errors.Join(errs...)
}

// retryWaiting gives every execution waiting for a worker another chance, or fails it at
// the deadline, and releases the delayed ones whose time has come (the scheduler leaves
// those a policy delayed to the policy).
func (r *Reaper) retryWaiting(ctx context.Context) error {
	waiting, err := r.list(ctx, execution.Requested, execution.Delayed, execution.Scheduling)
	if err != nil {
		return err
	}
	var errs []error
	for _, x := range waiting {
		if pack.RunnerType(x.RunnerType) == pack.RunnerWorkflow {
			errs = append(errs, r.startWorkflow(ctx, x))
			continue
		}
		_, err := r.cfg.Scheduler.Retry(ctx, x.ID, r.cfg.Now(), r.cfg.SchedulingDeadline)
		if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// workflowStartTimeout bounds one hand-over of a workflow to the engine.
const workflowStartTimeout = 30 * time.Second

// startWorkflow hands a workflow execution still requested after the scheduling deadline to
// the workflow engine again, as the bus would have.
func (r *Reaper) startWorkflow(ctx context.Context, x executions.Execution) error {
	if r.cfg.WorkflowStart == nil || x.Status != execution.Requested || r.cfg.Now().Sub(x.CreatedAt) < r.cfg.SchedulingDeadline {
		return nil
	}
	stream := execution.StreamID(x.ID)
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recorded) == 0 || recorded[0].Type != (execution.ExecutionRequested{}).EventType() {
		return fmt.Errorf("%s does not open with ExecutionRequested", stream)
	}
	r.log.Warn("workflow still requested after the deadline; starting it again", "execution_id", x.ID, "deadline", r.cfg.SchedulingDeadline)
	// Bounded: the engine waits for the catalogue, and a pass must not hang on one workflow.
	ctx, cancel := context.WithTimeout(ctx, workflowStartTimeout)
	defer cancel()
	if err := r.cfg.WorkflowStart(ctx, recorded[0]); err != nil {
		return fmt.Errorf("start workflow %s again: %w", x.ID, err)
	}
	return nil
}

// list pages through the executions in the given statuses.
func (r *Reaper) list(ctx context.Context, statuses ...execution.Status) ([]executions.Execution, error) {
	var out []executions.Execution
	f := executions.Filter{Status: statuses, Limit: executions.MaxLimit}
	for {
		page, err := r.cfg.Executions.ListExecutions(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list executions %v: %w", statuses, err)
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out, nil
		}
		f.Cursor = page.Next
	}
}

func (r *Reaper) fold(ctx context.Context, stream string) (*execution.Execution, eventstore.Recorded, error) {
	recorded, err := r.cfg.Log.ReadStream(ctx, stream)
	if err != nil {
		return nil, eventstore.Recorded{}, fmt.Errorf("read %s: %w", stream, err)
	}
	events := make([]event.Event, len(recorded))
	for i, rec := range recorded {
		if events[i], err = rec.Decode(); err != nil {
			return nil, eventstore.Recorded{}, err
		}
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return nil, eventstore.Recorded{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	return x, recorded[len(recorded)-1], nil
}
