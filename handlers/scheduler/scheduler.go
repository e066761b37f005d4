// Package scheduler places executions on workers. On ExecutionRequested it moves the
// execution to scheduling and, when a live worker supports the action's runtime and has a
// free slot, appends ExecutionScheduled (the worker, the runtime) and scheduling → scheduled
// in the same append: the worker's own handler picks it up from there. With no such worker
// the execution stays in scheduling; the reaper (handlers/reaper) calls Retry until a worker
// turns up or the scheduling deadline passes, and then the execution fails with "no worker
// for runtime X". An execution whose request carries a not_before still in the future goes
// requested → delayed instead, with an ExecutionDelayed that says until when; Retry releases
// it at that time (delayed → scheduling) and places it like any other. An execution taken
// back from a worker that left before starting it (scheduled → scheduling) is placed on
// another worker when one can take it. Workflow executions are run by the workflow engine,
// and core.ask's by the inquiry engine (handlers/inquiry), not a worker: they are left alone.
//
// Before an execution goes to scheduling (from requested, or from a not_before hold that is
// due), the Admitter (handlers/admission) applies the action's concurrency and rate-limit
// policies: admitted, it goes on as above; over a limit it goes (or stays) delayed with an
// ExecutionDelayed naming the policy, or is cancelled with an ExecutionRefused. Retry (the
// reaper) looks at a policy hold again every pass: it releases it once the policy admits it
// (ExecutionReleased, delayed → scheduling), and fails it at its queue deadline.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/heartbeat"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/internal/decide"
)

// Name is the handler's persisted identifier: it names its queue
// (ExecutionRequested.scheduler). Renaming it is a migration.
const Name = "scheduler"

// DefaultTTL is how recent a worker's last beat must be for it to be chosen: three beats of
// a worker's default 2s interval, so one late beat does not take it out of rotation.
const DefaultTTL = 6 * time.Second

// Log is what the scheduler needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Workers lists the workers whose heartbeat is fresher than ttl (adapters/heartbeat).
type Workers interface {
	Live(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error)
}

// Refreshing is Workers whose Live may answer from a copy a moment old (heartbeat.Cache, so
// that a burst of placements reads the table once): Refresh reads the table now. When no
// worker fits by the copy, the scheduler asks Refresh before it settles for waiting, so a
// worker that has just registered or freed a slot is found at once.
type Refreshing interface {
	Workers
	Refresh(ctx context.Context, ttl time.Duration) ([]heartbeat.Worker, error)
}

// Config configures a Scheduler.
type Config struct {
	Log     Log
	Workers Workers
	// TTL is the age of a worker's last beat past which it is not chosen; DefaultTTL if 0.
	TTL    time.Duration
	Logger *slog.Logger
	// Tie picks one of n equally loaded workers; a random one if nil.
	Tie func(n int) int
	// Backlog is how many runs per slot a worker may be given beyond its slots, to queue;
	// DefaultBacklog if 0, none if negative.
	Backlog int
	// Now is the clock a request's not_before is compared with; time.Now if nil.
	Now func() time.Time
	// Admission applies the concurrency and rate-limit policies of the action before an
	// execution moves to scheduling (handlers/admission); nil admits every execution.
	Admission Admitter
}

// Admitter decides, on the policies' queue streams, whether an execution may go on to
// scheduling (handlers/admission.Gate). What it decided is recorded there when it returns;
// asked again it finds it there.
type Admitter interface {
	Admit(ctx context.Context, x *execution.Execution, at eventstore.Position, md event.Metadata, now time.Time) (policy.Admission, error)
	// QueueDeadline is how long an execution may wait in a policy's queue.
	QueueDeadline() time.Duration
}

// DefaultBacklog lets a worker queue 256 runs per slot. Generous on purpose: what waits in
// scheduling is only looked at again by the reaper's pass, once a second, so a small backlog
// caps throughput at the worker's slots per pass; queued in the worker, a run starts the
// moment a slot frees. A worker that dies does not take its queue with it: what it never
// started is placed again by the reaper (execution.WorkerLeft), though only once the worker
// is declared lost, so the queue waits a heartbeat TTL longer.
const DefaultBacklog = 256

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Log == nil {
		errs = append(errs, errors.New("no event log"))
	}
	if c.Workers == nil {
		errs = append(errs, errors.New("no worker heartbeats"))
	}
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("ttl %s, want >= 0", c.TTL))
	}
	return errors.Join(errs...)
}

// Scheduler decides where executions run.
type Scheduler struct {
	log     Log
	workers Workers
	ttl     time.Duration
	logger  *slog.Logger
	tie     func(int) int
	placed  placements
	backlog int
	now     func() time.Time
	admit   Admitter
}

// New validates cfg and returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	s := &Scheduler{
		log:     cfg.Log,
		workers: cfg.Workers,
		ttl:     cmp.Or(cfg.TTL, DefaultTTL),
		logger:  cmp.Or(cfg.Logger, slog.Default()),
		tie:     cfg.Tie,
		backlog: max(cmp.Or(cfg.Backlog, DefaultBacklog), 0),
		now:     cfg.Now,
		admit:   cfg.Admission,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tie == nil {
		s.tie = rand.IntN
	}
	return s, nil
}

// Keys are the requests the scheduler's queue takes (bus.RequestedKey): those of executions a
// worker runs. Workflows and core.ask it leaves alone (decide), so it does not bind theirs.
var Keys = []string{bus.RequestedAction}

// Register subscribes the scheduler to requested executions.
func Register(r *bus.Router, s *Scheduler) {
	r.AddKeyedHandler(Name, execution.ExecutionRequested{}.EventType(), Keys, s.Handle)
}

// Result says what Retry (or a delivery) did to an execution.
type Result string

// The results of Retry.
const (
	Unchanged Result = "unchanged" // nothing to do: settled, a workflow, or not due yet
	Delayed   Result = "delayed"   // held back until its not_before
	Waiting   Result = "waiting"   // in scheduling, no worker can take it yet
	Placed    Result = "placed"    // scheduled on a worker
	Failed    Result = "failed"    // no worker by the deadline, or a runtime no worker can have
	Refused   Result = "refused"   // a policy in cancel mode turned it away
)

// Handle reacts to one ExecutionRequested. It decides from the log: a redelivery finds the
// execution already in scheduling (and tries to place it again, as Retry would) or settled.
func (s *Scheduler) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	if _, ok := payload.(*execution.ExecutionRequested); !ok {
		return nil
	}
	md := e.Metadata.Caused(e.ID.String())
	_, err = s.advance(ctx, e.StreamID, func(eventstore.Recorded) event.Metadata { return md }, wait{now: s.now()})
	return err
}

// Retry takes another look at an execution waiting for a worker, for the reaper. One in
// scheduling is placed if a worker can take it now, or fails once it has waited maxWait
// since it entered scheduling. One still in requested after maxWait (its ExecutionRequested
// was never handled: a poisoned message, say) is moved on as Handle would have. What Retry
// appends names the execution's latest event as its cause. One delayed until its
// not_before is released once now has reached it: delayed → scheduling, and placed as above
// (its scheduling deadline counts from the release). One a policy delayed is asked about
// again (Admitter): released once admitted (not before its rate limit's until), failed at its
// queue deadline.
func (s *Scheduler) Retry(ctx context.Context, executionID string, now time.Time, maxWait time.Duration) (Result, error) {
	if maxWait <= 0 {
		return Unchanged, fmt.Errorf("retry scheduling of %s: max wait %s, want > 0", executionID, maxWait)
	}
	return s.advance(ctx, execution.StreamID(executionID), causedByLast, wait{now: now, max: maxWait})
}

// Release moves on an execution a policy has just admitted (handlers/admission, when a slot
// frees): delayed → scheduling with ExecutionReleased, and placed. Like Handle it applies no
// deadline; what it appends names the execution's latest event as its cause.
func (s *Scheduler) Release(ctx context.Context, executionID string) (Result, error) {
	return s.advance(ctx, execution.StreamID(executionID), causedByLast, wait{now: s.now()})
}

// wait is the clock a not_before is compared with, and the deadline Retry applies; Handle
// applies none (max 0).
type wait struct {
	now time.Time
	max time.Duration
}

func (w wait) over(since time.Time) bool { return w.max > 0 && w.now.Sub(since) >= w.max }

// stream is an execution folded from its stream, with the times the deadline counts from.
type stream struct {
	x           *execution.Execution
	last        eventstore.Recorded
	requestedAt time.Time // ExecutionRequested recorded
	// requested is the ExecutionRequested's position: the catalogue as of there says which
	// policies govern the execution.
	requested   eventstore.Position
	waitingFrom time.Time // the latest move into scheduling recorded
	// avoid is the worker the execution was last taken back from (scheduled → scheduling):
	// it left, or never received the placement, so another worker is preferred.
	avoid string
	// hold is the latest ExecutionDelayed: the request's own not_before (no Policy), or a
	// policy's queue.
	hold policy.ExecutionDelayed
}

// advance decides for the execution and appends what it decided; then it releases the
// executions admission admitted along with it (Admission.Next). On the reaper's pass (a
// deadline applies: w.max > 0), an execution held back only by executions requested before
// it that have not reached admission yet (Admission.Awaits: their message is late, or lost)
// has them moved on as their ExecutionRequested would, and is then looked at again: an
// execution that is never coming holds nobody back beyond one pass.
func (s *Scheduler) advance(ctx context.Context, streamID string, meta func(last eventstore.Recorded) event.Metadata, w wait) (Result, error) {
	res, f, err := s.advanceOnce(ctx, streamID, meta, w)
	s.releaseNext(ctx, f.next)
	if err != nil || w.max <= 0 || len(f.awaits) == 0 {
		return res, err
	}
	for _, id := range f.awaits {
		s.logger.Debug("moving on an execution requested earlier that has not reached admission", "execution_id", id, "waiting", streamID)
		_, g, err := s.advanceOnce(ctx, execution.StreamID(id), causedByLast, wait{now: w.now})
		s.releaseNext(ctx, g.next)
		if err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			s.logger.Warn("could not move on an execution requested earlier", "execution_id", id, "error", err)
		}
	}
	res, f, err = s.advanceOnce(ctx, streamID, meta, w)
	s.releaseNext(ctx, f.next)
	return res, err
}

// causedByLast is the metadata of what is appended to a stream: caused by its latest event.
func causedByLast(last eventstore.Recorded) event.Metadata {
	return last.Metadata.Caused(last.ID.String())
}

// releaseNext releases the executions admission claimed slots for along with another one.
// What fails here is left to the reaper's pass, which finds the claim and releases it.
func (s *Scheduler) releaseNext(ctx context.Context, ids []string) {
	for _, id := range ids {
		if _, err := s.Release(ctx, id); err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			s.logger.Warn("could not release an execution admitted from a policy queue; the reaper will", "execution_id", id, "error", err)
		}
	}
}

// follow is what an advance leaves to do for other executions (policy.Admission's Next and
// Awaits).
type follow struct {
	next, awaits []string
}

func (s *Scheduler) advanceOnce(ctx context.Context, streamID string, meta func(last eventstore.Recorded) event.Metadata, w wait) (Result, follow, error) {
	// Decided on the stream as folded, appended with its version; a conflict (a cancel, the
	// reaper, another delivery wrote meanwhile) is decided again on what is there now
	// (handlers/internal/decide). Every decision's Next is kept: the gate claimed their
	// slots, and a decision taken again finds nothing more to claim.
	var (
		p plan
		f follow
	)
	loop := decide.Loop[stream]{Log: s.log, Fold: foldStream}
	_, err := loop.Run(ctx, streamID, func(ctx context.Context, fs decide.Folded[stream]) (decide.Decision, error) {
		var err error
		p, err = s.decide(ctx, fs.State, meta, w)
		if p.d != nil {
			f.next = append(f.next, p.d.next...)
			f.awaits = p.d.awaits
		}
		if err != nil || p.done {
			return decide.Decision{}, err
		}
		return decide.Decision{Events: p.d.events, Metadata: meta(fs.State.last)}, nil
	})
	if err != nil {
		if errors.Is(err, decide.ErrNoStream) {
			return Unchanged, f, fmt.Errorf("read %s: no such execution", streamID)
		}
		if errors.Is(err, eventstore.ErrVersionConflict) {
			return Unchanged, f, fmt.Errorf("append %d scheduling events to %s: %w", len(p.d.events), streamID, err)
		}
		return Unchanged, f, err
	}
	if p.done {
		return p.result, f, nil
	}
	x, d, rt, chosen := p.d.x, p.d, p.rt, p.chosen
	switch x.Status() {
	case execution.Delayed:
		if len(d.events) == 0 {
			return Unchanged, f, nil
		}
		s.logger.Debug("execution delayed", "execution_id", x.ID(), "not_before", x.NotBefore())
		return Delayed, f, nil
	case execution.Scheduled:
		s.placed.add(chosen)
		s.logger.Debug("execution scheduled", "execution_id", x.ID(), "worker_id", chosen.ID, "runtime", string(rt))
		return Placed, f, nil
	case execution.Failed:
		s.logger.Info("execution failed to schedule", "execution_id", x.ID(), "runner_type", x.RunnerType(), "reason", d.reason)
		return Failed, f, nil
	case execution.Cancelled:
		s.logger.Info("execution refused by a policy", "execution_id", x.ID(), "reason", d.reason)
		return Refused, f, nil
	case execution.Requested:
		return Unchanged, f, nil
	}
	return Waiting, f, nil
}

// choose lists the live workers with list and picks one for runtime rt, preferring any but
// avoid. ok: live[0] is the one chosen; otherwise live is every live worker.
func (s *Scheduler) choose(ctx context.Context, rt pack.RunnerType, avoid string,
	list func(context.Context, time.Duration) ([]heartbeat.Worker, error)) (live []heartbeat.Worker, ok bool, err error) {
	live, err = list(ctx, s.ttl)
	if err != nil {
		return nil, false, err
	}
	candidates := live
	if avoid != "" {
		others := slices.DeleteFunc(slices.Clone(live), func(w heartbeat.Worker) bool { return w.ID == avoid })
		if Capable(others, rt) {
			candidates = others
		}
	}
	chosen, ok := Select(s.placed.load(candidates), rt, s.backlog, s.tie)
	if !ok {
		return live, false, nil
	}
	return []heartbeat.Worker{chosen}, true, nil
}

// plan is what one decision on an execution's stream came to: done with a result and
// nothing to append, or the decision's events and what they lead to.
type plan struct {
	done   bool
	result Result
	d      *decision
	rt     pack.RunnerType
	chosen heartbeat.Worker
}

// decide decides what follows for the execution as folded.
func (s *Scheduler) decide(ctx context.Context, st stream, meta func(last eventstore.Recorded) event.Metadata, w wait) (plan, error) {
	unchanged := plan{done: true, result: Unchanged}
	x := st.x
	if pack.RunnerType(x.RunnerType()) == pack.RunnerWorkflow || x.Action() == inquiry.AskAction {
		return unchanged, nil // the workflow engine (or the inquiry engine, for core.ask) runs it
	}
	d := &decision{x: x}
	rt, known := Canonical(x.RunnerType())
	deadlinePassed := false
	switch x.Status() {
	case execution.Requested:
		if w.max > 0 && !w.over(st.requestedAt) {
			return unchanged, nil // its ExecutionRequested is presumably still on its way here
		}
		if !known {
			d.to(execution.Failed, unknownRuntime(x.RunnerType()))
			break
		}
		if nb := x.NotBefore(); nb.After(w.now) {
			reason := "delayed until " + nb.UTC().Format(time.RFC3339)
			d.add(policy.ExecutionDelayed{ExecutionID: x.ID(), Reason: reason, Until: nb})
			d.to(execution.Delayed, reason)
			break
		}
		if err := s.admission(ctx, d, st, meta(st.last), w.now); err != nil {
			return unchanged, err
		}
	case execution.Delayed:
		h := st.hold
		switch {
		case h.Policy == "" && x.NotBefore().After(w.now):
			return unchanged, nil // not due yet
		case h.Policy != "" && !h.Deadline.IsZero() && !w.now.Before(h.Deadline):
			d.to(execution.Failed, fmt.Sprintf("waited in the queue of policy %s past its deadline (%s)", h.Policy, h.Deadline.UTC().Format(time.RFC3339)))
		case h.Policy != "" && w.max > 0 && w.now.Before(h.Until):
			// The reaper's pass: the rate limit will not admit it before Until. (A release
			// looks at once: a claim may come earlier when one ahead in the queue left it.)
			return unchanged, nil
		case !known:
			d.to(execution.Failed, unknownRuntime(x.RunnerType()))
		default:
			if err := s.admission(ctx, d, st, meta(st.last), w.now); err != nil {
				return unchanged, err
			}
		}
	case execution.Scheduling:
		if !known {
			d.to(execution.Failed, unknownRuntime(x.RunnerType()))
			break
		}
		deadlinePassed = w.over(st.waitingFrom)
	default:
		return unchanged, nil
	}

	var chosen heartbeat.Worker
	if d.err == nil && x.Status() == execution.Scheduling {
		live, ok, err := s.choose(ctx, rt, st.avoid, s.workers.Live)
		if refreshing, can := s.workers.(Refreshing); err == nil && !ok && can {
			live, ok, err = s.choose(ctx, rt, st.avoid, refreshing.Refresh)
		}
		if err != nil {
			return unchanged, fmt.Errorf("schedule execution %s: %w", x.ID(), err)
		}
		if ok {
			chosen = live[0]
			d.add(execution.ExecutionScheduled{ExecutionID: x.ID(), WorkerID: chosen.ID, Runtime: string(rt)})
			d.to(execution.Scheduled, "")
		} else if deadlinePassed && !Capable(live, rt) {
			// Only a missing worker fails an execution. Capable workers that are merely busy
			// drain their queues (every run has a timeout), so waiting for them ends.
			d.to(execution.Failed, "no worker for runtime "+string(rt))
		}
	}
	if d.err != nil {
		return unchanged, bus.Permanent(fmt.Errorf("schedule execution %s: %w", x.ID(), d.err))
	}
	return plan{d: d, rt: rt, chosen: chosen}, nil
}

// decision collects the events decided for one execution, applying each so that the next
// is decided on the state it leaves; the first error stops it.
type decision struct {
	x      *execution.Execution
	events []event.Event
	err    error
	reason string // of the latest transition
	// next and awaits are what admission left to do for other executions
	// (policy.Admission's Next and Awaits).
	next, awaits []string
}

func (d *decision) add(e event.Event) {
	if d.err == nil {
		d.events = append(d.events, e)
		d.err = d.x.Apply(e)
	}
}

func (d *decision) to(status execution.Status, reason string) {
	if d.err != nil {
		return
	}
	ch, err := d.x.Transition(status, execution.Outcome{Reason: reason})
	if err != nil {
		d.err = err
		return
	}
	d.reason = reason
	d.add(ch)
}

// admission asks the policies whether an execution on its way to scheduling (requested, or
// delayed and due) may go there, and decides what the answer does to it: to scheduling
// (with ExecutionReleased if a policy held it), delayed in a policy's queue (ExecutionDelayed,
// again without a transition when it was already delayed by something else), or cancelled
// (ExecutionRefused). Already held by the queue that holds it back still, nothing changes.
func (s *Scheduler) admission(ctx context.Context, d *decision, st stream, md event.Metadata, now time.Time) error {
	x := d.x
	held := x.Status() == execution.Delayed && st.hold.Policy != ""
	if s.admit == nil {
		if !held { // without a gate only a policy's own queue may let it go
			d.to(execution.Scheduling, "")
		}
		return nil
	}
	a, err := s.admit.Admit(ctx, x, st.requested, md, now)
	if err != nil {
		return err
	}
	d.next, d.awaits = a.Next, a.Awaits
	switch a.Verdict {
	case policy.Admit:
		if held {
			d.add(policy.ExecutionReleased{ExecutionID: x.ID(), Policy: st.hold.Policy, PolicyType: st.hold.PolicyType, Key: st.hold.Key,
				Reason: "admitted by policy " + st.hold.Policy})
		}
		d.to(execution.Scheduling, "")
	case policy.Wait:
		if held && st.hold.Policy == a.Policy && st.hold.Key == a.Key {
			return nil // still in the queue it waits in
		}
		deadline := now.Add(s.admit.QueueDeadline())
		if held {
			deadline = st.hold.Deadline // one deadline for the whole wait
		}
		d.add(policy.ExecutionDelayed{ExecutionID: x.ID(), Policy: a.Policy, PolicyType: a.Type, Key: a.Key, Reason: a.Reason,
			Until: a.Until, Deadline: deadline})
		if x.Status() == execution.Requested {
			d.to(execution.Delayed, a.Reason)
		}
	case policy.Refuse:
		d.add(policy.ExecutionRefused{ExecutionID: x.ID(), Policy: a.Policy, PolicyType: a.Type, Reason: a.Reason, Key: a.Key})
		d.to(execution.Cancelled, "refused by "+a.Reason)
	default: // Gone: it ended meanwhile; its own stream says so, and the append would conflict
	}
	return nil
}

// foldStream folds the execution's stream, with the times its deadlines count from.
func foldStream(streamID string, recorded []eventstore.Recorded) (stream, error) {
	if len(recorded) == 0 {
		return stream{}, fmt.Errorf("%s: %w", streamID, decide.ErrNoStream)
	}
	st := stream{last: recorded[len(recorded)-1]}
	events := make([]event.Event, len(recorded))
	for i, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return stream{}, err
		}
		events[i] = e
		switch e := e.(type) {
		case *execution.ExecutionRequested:
			st.requestedAt, st.requested = r.RecordedAt, r.Position
		case *execution.ExecutionStatusChanged:
			if e.To == execution.Scheduling {
				st.waitingFrom = r.RecordedAt
				st.avoid = e.WorkerID
			}
		case *policy.ExecutionDelayed:
			st.hold = *e
		}
	}
	var err error
	if st.x, err = execution.FromEvents(events); err != nil {
		return stream{}, err
	}
	return st, nil
}

func unknownRuntime(name string) string {
	if name == "" {
		return "the execution names no runner type, so no worker can run it"
	}
	return fmt.Sprintf("unknown runner type %q: no worker can run it", name)
}
