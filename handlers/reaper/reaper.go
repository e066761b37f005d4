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
//     delay, a retry's backoff): delayed → scheduling, then placed as above (scheduler.Retry);
//     for one waiting in a policy's queue, the scheduler asks admission again: a claim the
//     queue stream records but the execution does not is applied, a rate limit releases at
//     its until, and a wait past ExecutionDelayed.deadline fails.
//   - cancels the workflows paused for longer than MaxPaused (paused → canceling; the
//     workflow engine then cancels what they hold and ends them cancelled).
//   - times out the inquiries past their ttl (InquiryTimedOut, pending → timeout), and
//     completes inquiries whose two streams a lost message left apart (Inquiries).
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
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
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
	// DefaultMaxPaused is how long a workflow may stay paused (waiting for a resume or an
	// inquiry's answer) before it is cancelled.
	DefaultMaxPaused = 7 * 24 * time.Hour
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

// Inquiries is the inquiry engine's part in the reaper's pass (handlers/inquiry.Engine).
type Inquiries interface {
	Settle(ctx context.Context, executionID string, md *event.Metadata) error
	Sweep(ctx context.Context) error
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
	// MaxPaused is how long a workflow may stay paused before it is cancelled;
	// DefaultMaxPaused if 0.
	MaxPaused time.Duration
	// WorkflowStart re-delivers the ExecutionRequested of a workflow execution still
	// requested SchedulingDeadline after it was requested (its message was lost or poisoned)
	// to the workflow engine, which alone moves it on (workflow.Engine.Start, idempotent);
	// nil leaves such executions alone.
	// Keys lists the keys of the key-value store whose time to live ran out (the kv read
	// model); the reaper records KeyExpired for each. Nil: no key expires in the log (readers
	// still hide an expired value at its time).
	Keys          ExpiredKeys
	WorkflowStart func(ctx context.Context, requested eventstore.Recorded) error
	// Inquiries settles core.ask's executions (handlers/inquiry.Engine): Settle asks an
	// inquiry still requested (its message lost, or a task delay now passed), and Sweep,
	// once a pass, times out the inquiries past their ttl and completes what a lost message
	// left half done. nil leaves them alone.
	Inquiries Inquiries
	Now       func() time.Time // time.Now if nil
	Logger    *slog.Logger
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
		"max paused": c.MaxPaused,
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
	cfg.ScheduledDeadline = cmp.Or(cfg.ScheduledDeadline, DefaultScheduledDeadline)
	cfg.CancelDeadline = cmp.Or(cfg.CancelDeadline, DefaultCancelDeadline)
	cfg.MaxPaused = cmp.Or(cfg.MaxPaused, DefaultMaxPaused)
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
	return errors.Join(r.declareLost(ctx), r.settleOrphans(ctx), r.retryWaiting(ctx), r.cancelPaused(ctx), r.sweepInquiries(ctx), r.expireKeys(ctx))
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
