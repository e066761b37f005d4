// Package reaper makes sure no execution waits forever. Once a second (one reaper at a time,
// under postgres.Lead) it:
//
//   - declares lost every worker whose heartbeat is older than the TTL: WorkerDeregistered
//     {lost: true, reason "no heartbeat for Ns"}, then removes its heartbeat row;
//   - abandons every execution still scheduled, running or canceling on a worker that has
//     left (lost, stopped, or never registered), naming the worker in the reason;
//   - retries the placement of executions waiting in scheduling, and fails those that have
//     waited past the scheduling deadline with "no worker for runtime X" (scheduler.Retry);
//   - releases the executions delayed until a not_before that has come (a workflow task's
//     delay, a retry's backoff): delayed → scheduling, then placed as above (scheduler.Retry).
//
// It finds executions through the executions read model, which lags the log: every decision
// is taken again on the execution's folded stream and appended with its expected version, so
// a stale row costs a read, never a wrong transition. Abandoning does not depend on the
// heartbeat row (which is gone once the worker is declared lost) but on the worker's stream,
// so an execution the read model shows late is still abandoned on a later pass.
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
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
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
	Now                func() time.Time // time.Now if nil
	Logger             *slog.Logger
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
	if c.TTL < 0 || c.Interval < 0 || c.SchedulingDeadline < 0 {
		errs = append(errs, fmt.Errorf("ttl %s, interval %s, deadline %s: want >= 0", c.TTL, c.Interval, c.SchedulingDeadline))
	}
	return errors.Join(errs...)
}

// Reaper settles what nobody else will.
type Reaper struct {
	cfg Config
	log *slog.Logger
	// blindUntil is when the reaper will have seen the database reachable for a whole TTL:
	// no worker can beat while the database is away, so until then a stale heartbeat proves
	// nothing about the worker. Run sets it when it starts (it may lead after an outage) and
	// whenever the heartbeat table cannot be read.
	blindUntil time.Time
}

// New validates cfg and returns a Reaper.
func New(cfg Config) (*Reaper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("reaper config: %w", err)
	}
	cfg.TTL = cmp.Or(cfg.TTL, scheduler.DefaultTTL)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.SchedulingDeadline = cmp.Or(cfg.SchedulingDeadline, DefaultSchedulingDeadline)
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
	// Passes fail in a row while the database is away: say so once, and once when back.
	down := outage.NewLog(r.log, "reaper pass")
	r.blindUntil = r.cfg.Now().Add(r.cfg.TTL)
	for {
		err := r.Pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			down.Failed(err)
		case err == nil:
			down.Recovered()
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
	return errors.Join(r.declareLost(ctx), r.abandonOrphans(ctx), r.retryWaiting(ctx))
}

// declareLost deregisters the workers that stopped beating and removes their rows.
func (r *Reaper) declareLost(ctx context.Context) error {
	lost, err := r.cfg.Heartbeats.Lost(ctx, r.cfg.TTL)
	if err != nil {
		r.blindUntil = r.cfg.Now().Add(r.cfg.TTL)
		return err
	}
	if r.cfg.Now().Before(r.blindUntil) {
		return nil // beats may have been lost to an outage: give every worker a TTL to beat again
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

// abandonOrphans abandons the executions in hand on workers that have left.
func (r *Reaper) abandonOrphans(ctx context.Context) error {
	active, err := r.list(ctx, execution.Scheduled, execution.Running, execution.Canceling)
	if err != nil {
		return err
	}
	byWorker := map[string][]string{}
	for _, x := range active {
		if x.Worker != "" {
			byWorker[x.Worker] = append(byWorker[x.Worker], x.ID)
		}
	}
	var errs []error
	for workerID, ids := range byWorker {
		stream := worker.StreamID(workerID)
		recorded, err := r.cfg.Log.ReadStream(ctx, stream)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", stream, err))
			continue
		}
		l := lifecycleOf(recorded)
		if l.registered {
			continue // it will report on them itself
		}
		// A worker cut off for longer than the TTL may still beat once it is back; its row
		// must go so that its next beat tells it to register again, or the scheduler would
		// keep choosing it while this loop abandons what it gets.
		if err := r.cfg.Heartbeats.Remove(ctx, workerID); err != nil {
			errs = append(errs, err)
		}
		for _, id := range ids {
			if err := r.abandon(ctx, id, workerID, l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Reaper) abandon(ctx context.Context, executionID, workerID string, l lifecycle) error {
	stream := execution.StreamID(executionID)
	x, last, err := r.fold(ctx, stream)
	if err != nil {
		return err
	}
	switch x.Status() {
	case execution.Scheduled, execution.Running, execution.Canceling:
	default:
		return nil // settled meanwhile; the read model has not caught up
	}
	if x.WorkerID() != workerID {
		return nil
	}
	ch, err := x.Transition(execution.Abandoned, execution.Outcome{
		Reason:   fmt.Sprintf("worker %s left (%s)", workerID, l.why),
		WorkerID: workerID,
	})
	if err != nil {
		return err
	}
	cause := last
	if l.cause.StreamID != "" {
		cause = l.cause // the worker's departure, for `attune trace`
	}
	p, err := eventstore.NewProposed(ch, last.Metadata.Caused(cause.ID.String()))
	if err != nil {
		return err
	}
	if _, err := r.cfg.Log.Append(ctx, stream, eventstore.Exact(x.Version()), p); err != nil {
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return nil // its worker's report or a cancel got in first; the next pass looks again
		}
		return fmt.Errorf("abandon execution %s: %w", executionID, err)
	}
	r.log.Warn("execution abandoned", "execution_id", executionID, "worker_id", workerID, "reason", ch.Reason)
	return nil
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
		_, err := r.cfg.Scheduler.Retry(ctx, x.ID, r.cfg.Now(), r.cfg.SchedulingDeadline)
		if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
