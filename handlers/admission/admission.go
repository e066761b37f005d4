// Package admission enforces concurrency and rate-limit policies (design §6). It keeps, per
// policy and key, the stream policy.QueueStreamID(ref, key) of claims, queue entries and
// releases, and decides on it with policy.Limit.Decide, appending with the version it folded
// (a conflict folds and decides again), so two engines or a redelivered message never admit
// one run too many.
//
// Gate.Admit is called by the scheduler (handlers/scheduler) where an execution would move to
// scheduling; the scheduler then records on the execution's stream what the gate decided
// (scheduling, or delayed with ExecutionDelayed, or cancelled with ExecutionRefused). The
// Handler here (ExecutionStatusChanged.admission) gives a slot or a place in the queue back
// when an execution governed by a policy ends, in any terminal state, and admits the queue's
// heads (SlotClaimed{FromQueue}), asking the scheduler to release each (ExecutionReleased,
// delayed → scheduling, placed). Whatever a crash leaves half done between the two streams
// is finished by the reaper's pass over delayed executions, which asks the scheduler, which
// asks the gate again: a claim already on the queue stream admits.
//
// Admission is in request order (execution ids are ULIDs), not in the order the bus happens
// to deliver requests: before an execution takes free room, the gate looks up in the
// executions read model (Config.Requests) the executions of its action and key requested
// before it that have not reached it yet, and leaves them their place (ARCHITECTURE.md,
// "Request order").
package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/attune-go/attune/adapters/bus"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/domain/event"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/policy"
	"github.com/attune-go/attune/handlers/internal/decide"
	"github.com/attune-go/attune/handlers/scheduler"
	"github.com/attune-go/attune/projections/executions"
)

// Name is the release handler's persisted identifier: it names its queue
// (ExecutionStatusChanged.admission). Renaming it is a migration.
const Name = "admission"

// DefaultQueueDeadline is how long an execution may wait in a policy's queue before it fails.
const DefaultQueueDeadline = 24 * time.Hour

// maxAttempts bounds how often one decision is taken again after a version conflict on the
// queue stream: each conflict means another decision on the key went through.
const maxAttempts = 50

// Log is what admission needs of the event store.
type Log interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.Recorded, error)
	Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Proposed) (eventstore.AppendResult, error)
}

// Requests is the executions read model as admission reads it to keep request order
// (adapters/readmodel): an action's executions still requested before a given one, and the
// position of the log the list is as of.
type Requests interface {
	RequestedBefore(ctx context.Context, action, id string, limit int) ([]executions.Requested, eventstore.Position, error)
}

// Catalog gives an action's policies (projections/registry), as of a position of the log.
type Catalog interface {
	EnabledPoliciesFor(action string) []pack.Policy
	// AnyEnabledPolicy reports whether any live pack has an enabled policy.
	AnyEnabledPolicy() bool
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// Placer releases an admitted execution from delayed and places it (the scheduler).
type Placer interface {
	Release(ctx context.Context, executionID string) (scheduler.Result, error)
}

// Config configures a Gate.
type Config struct {
	Log     Log
	Catalog Catalog
	// Requests, when set, keeps admission in request order: before an execution takes a free
	// slot, the gate looks for executions of the same action and key requested before it
	// that have not reached it yet, and leaves them their place. Nil: the order in which
	// requests reach the gate.
	Requests Requests
	// CatchUp bounds how long a look-up waits for the executions read model to reach the
	// log position it needs (the request decided on, the queue as folded);
	// DefaultCatchUp if 0. Past it the gate goes by what the read model holds.
	CatchUp time.Duration
	// QueueDeadline is how long an execution may wait in a queue; DefaultQueueDeadline if 0.
	QueueDeadline time.Duration
	Now           func() time.Time // time.Now if nil
	Logger        *slog.Logger
}

// DefaultCatchUp is how long a look-up of earlier requests waits for the read model.
const DefaultCatchUp = 500 * time.Millisecond

// Gate decides admissions.
type Gate struct {
	log      Log
	catalog  Catalog
	requests Requests
	catchUp  time.Duration
	deadline time.Duration
	now      func() time.Time
	logger   *slog.Logger
}

// New validates cfg and returns a Gate.
func New(cfg Config) (*Gate, error) {
	var errs []error
	if cfg.Log == nil {
		errs = append(errs, errors.New("no event log"))
	}
	if cfg.Catalog == nil {
		errs = append(errs, errors.New("no catalogue"))
	}
	if cfg.CatchUp < 0 {
		errs = append(errs, fmt.Errorf("catch-up %s, want >= 0", cfg.CatchUp))
	}
	if cfg.QueueDeadline < 0 {
		errs = append(errs, fmt.Errorf("queue deadline %s, want >= 0", cfg.QueueDeadline))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admission config: %w", err)
	}
	g := &Gate{log: cfg.Log, catalog: cfg.Catalog, requests: cfg.Requests, catchUp: cmp.Or(cfg.CatchUp, DefaultCatchUp),
		deadline: cmp.Or(cfg.QueueDeadline, DefaultQueueDeadline),
		now:      cfg.Now, logger: cmp.Or(cfg.Logger, slog.Default())}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

// QueueDeadline is how long an execution may wait in a policy's queue.
func (g *Gate) QueueDeadline() time.Duration { return g.deadline }

// limits are the action's enabled concurrency and rate-limit policies, in ref order.
func (g *Gate) limits(ctx context.Context, action string, at eventstore.Position) ([]policy.Limit, error) {
	if err := g.catalog.WaitFor(ctx, at); err != nil {
		return nil, err
	}
	var out []policy.Limit
	for _, p := range g.catalog.EnabledPoliciesFor(action) {
		if l, ok := p.Limit(); ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// Admit decides whether the execution may go on to scheduling: every limit on its action, in
// ref order, must admit it. The first that does not decides (it waits in that queue, or is
// refused); the slots of the limits before it stay claimed, which cannot deadlock since every
// execution claims in the same order. What it decides is on the queue streams when it
// returns; the caller records the outcome on the execution's stream. Asked again (a
// redelivery, the reaper), it finds its claims and queue entries there and decides the same
// or better. at is a position the catalogue must have folded first (the execution's
// request: the policies in force when it was requested govern it); md is the metadata of
// what it appends.
//
// Admission is in request order (Config.Requests): an execution takes a free slot only if no
// execution of its action and key requested before it is still on its way to the gate; if
// one is, it waits in the queue behind it (Admission.Awaits names them). When a decision
// leaves room that waiting executions may now take, the gate claims it for them in the same
// append (Admission.Next): the caller releases them.
func (g *Gate) Admit(ctx context.Context, x *execution.Execution, at eventstore.Position, md event.Metadata, now time.Time) (policy.Admission, error) {
	limits, err := g.limits(ctx, x.Action(), at)
	if err != nil {
		return policy.Admission{}, err
	}
	e := &earlier{action: x.Action(), request: at}
	var next []string
	for _, l := range limits {
		key, err := l.Key(x.Parameters())
		if err != nil {
			return policy.Admission{}, bus.Permanent(fmt.Errorf("admit execution %s: %w", x.ID(), err))
		}
		dec, heads, err := g.decide(ctx, l, key, x.ID(), e, md, now)
		if err != nil {
			return policy.Admission{}, fmt.Errorf("admit execution %s under policy %s: %w", x.ID(), l.Ref, err)
		}
		next = append(next, heads...)
		if dec.Verdict != policy.Admit {
			return policy.Admission{Verdict: dec.Verdict, Policy: l.Ref, Type: l.Type, Key: key, Reason: dec.Reason, Until: dec.Until,
				Awaits: dec.Awaits, Next: next}, nil
		}
	}
	return policy.Admission{Verdict: policy.Admit, Next: next}, nil
}

// decide takes one limit's decision for id and appends it to the key's queue stream, with
// the claims of the waiting executions the decision leaves room for (returned: heads).
func (g *Gate) decide(ctx context.Context, l policy.Limit, key, id string, e *earlier, md event.Metadata, now time.Time) (policy.Decision, []string, error) {
	stream := policy.QueueStreamID(l.Ref, key)
	for range maxAttempts {
		q, last, err := g.fold(ctx, stream)
		if err != nil {
			return policy.Decision{}, nil, err
		}
		dec := l.Decide(q, key, id, now)
		if dec.Verdict == policy.Admit && len(dec.Events) > 0 && g.requests != nil {
			// It would take a free slot: not before one requested before it, still on its way.
			coming, err := g.coming(ctx, e, l, key, id, e.request)
			if err != nil {
				return policy.Decision{}, nil, err
			}
			dec = l.Decide(q, key, id, now, coming...)
		}
		if dec.Verdict == policy.Wait && len(dec.Awaits) == 0 && l.Type == policy.Concurrency && head(q, id) {
			// The head of a full queue makes sure every holder is still alive: a release
			// whose message was lost (poisoned) must not block the queue for good.
			freed, err := g.endedHolders(ctx, l, key, q)
			if err != nil {
				return policy.Decision{}, nil, err
			}
			if len(freed) > 0 {
				g.logger.Warn("policy slots held by ended executions given back", "policy", l.Ref, "key", key, "count", len(freed))
				if err := g.append(ctx, stream, q.Version(), md, freed); err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
					return policy.Decision{}, nil, err
				}
				continue
			}
		}
		if len(dec.Events) == 0 {
			return dec, nil, nil
		}
		version := q.Version()
		events := slices.Clone(dec.Events)
		for _, ev := range dec.Events {
			if err := q.Apply(ev); err != nil {
				return policy.Decision{}, nil, bus.Permanent(fmt.Errorf("stream %s: %w", stream, err))
			}
		}
		heads, err := g.heads(ctx, e, l, key, q, last)
		if err != nil {
			return policy.Decision{}, nil, err
		}
		ids := make([]string, len(heads))
		for i, c := range heads {
			events = append(events, c)
			ids[i] = c.ExecutionID
		}
		err = g.append(ctx, stream, version, md, events)
		if errors.Is(err, eventstore.ErrVersionConflict) {
			continue // another decision on this key went first: decide on what it left
		}
		if err != nil {
			return policy.Decision{}, nil, err
		}
		return dec, ids, nil
	}
	return policy.Decision{}, nil, fmt.Errorf("queue %s: still conflicting after %d attempts", stream, maxAttempts)
}

// heads are the claims for the waiting executions there is room for in q, in request order,
// each leaving their place to the executions requested before it that are still on their
// way (Config.Requests). last is the position of the queue stream's latest event.
func (g *Gate) heads(ctx context.Context, e *earlier, l policy.Limit, key string, q *policy.Queue, last eventstore.Position) ([]policy.SlotClaimed, error) {
	heads := l.Heads(q, key, g.now())
	if len(heads) == 0 || g.requests == nil {
		return heads, nil
	}
	// Those requested before a head were requested before it joined the queue: the read
	// model must have applied the queue stream as folded.
	at := e.request
	if at.Less(last) {
		at = last
	}
	w := q.Waiting()
	coming, err := g.coming(ctx, e, l, key, w[len(w)-1], at)
	if err != nil {
		return nil, err
	}
	return l.Heads(q, key, g.now(), coming...), nil
}

// earlier is what one decision has learnt of an action's executions still requested: looked
// up when first needed, and again only for a later bound or position.
type earlier struct {
	action  string
	request eventstore.Position // the request decided on (a release: the status change)
	looked  bool
	before  string              // the list holds those requested before this id
	at      eventstore.Position // the read model had applied the log up to here
	list    []executions.Requested
}

// coming lists the executions of the action requested before the execution `before`, whose
// key under l is key, that the read model still shows requested: those that may not have
// reached the gate yet. It waits (at most Config.CatchUp) for the read model to have applied
// the log up to at (the request decided on, or the queue stream as folded): everything
// requested before is then in it. An execution whose key cannot be computed is left out: the
// gate refuses it, so it takes no place.
func (g *Gate) coming(ctx context.Context, e *earlier, l policy.Limit, key, before string, at eventstore.Position) ([]string, error) {
	if !e.looked || e.before < before || e.at.Less(at) {
		list, err := g.lookUp(ctx, e.action, before, at)
		if err != nil {
			return nil, err
		}
		e.looked, e.before, e.at, e.list = true, before, at, list
	}
	var ids []string
	for _, r := range e.list {
		if r.ID >= before {
			continue
		}
		if k, err := l.Key(r.Parameters); err == nil && k == key {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// lookUp reads the action's executions still requested before the execution id, once the
// read model has applied the log up to at, or after Config.CatchUp, whichever comes first.
func (g *Gate) lookUp(ctx context.Context, action, before string, at eventstore.Position) ([]executions.Requested, error) {
	start := time.Now()
	pause := 2 * time.Millisecond
	for {
		list, applied, err := g.requests.RequestedBefore(ctx, action, before, executions.MaxRequested)
		if err != nil {
			return nil, err
		}
		if !applied.Less(at) {
			return list, nil
		}
		if time.Since(start) >= g.catchUp {
			g.logger.Debug("executions read model behind; keeping request order by what it holds",
				"action", action, "applied", applied.String(), "want", at.String())
			return list, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// head reports whether id is, or would be as a newcomer, the first in the queue.
func head(q *policy.Queue, id string) bool {
	w := q.Waiting()
	return len(w) == 0 || w[0] == id || id < w[0]
}

// endedHolders are the releases of the holders whose execution has ended.
func (g *Gate) endedHolders(ctx context.Context, l policy.Limit, key string, q *policy.Queue) ([]event.Event, error) {
	var out []event.Event
	for _, h := range q.Holders() {
		x, err := g.execution(ctx, h)
		if err != nil {
			return nil, err
		}
		if x.Status().Terminal() {
			out = append(out, policy.SlotReleased{Policy: l.Ref, PolicyType: l.Type, Key: key, ExecutionID: h, Status: x.Status()})
		}
	}
	return out, nil
}

// fold folds a queue stream; last is the position of its latest event.
func (g *Gate) fold(ctx context.Context, stream string) (q *policy.Queue, last eventstore.Position, err error) {
	recorded, err := g.log.ReadStream(ctx, stream)
	if err != nil {
		return nil, last, fmt.Errorf("read %s: %w", stream, err)
	}
	events, err := decode(recorded)
	if err != nil {
		return nil, last, err
	}
	if q, err = policy.FoldQueue(events); err != nil {
		return nil, last, bus.Permanent(fmt.Errorf("stream %s: %w", stream, err))
	}
	if n := len(recorded); n > 0 {
		last = recorded[n-1].Position
	}
	return q, last, nil
}

func (g *Gate) execution(ctx context.Context, id string) (*execution.Execution, error) {
	stream := execution.StreamID(id)
	recorded, err := g.log.ReadStream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	events, err := decode(recorded)
	if err != nil {
		return nil, err
	}
	x, err := execution.FromEvents(events)
	if err != nil {
		return nil, bus.Permanent(fmt.Errorf("stream %s: %w", stream, err))
	}
	return x, nil
}

func decode(recorded []eventstore.Recorded) ([]event.Event, error) {
	events := make([]event.Event, len(recorded))
	for i, r := range recorded {
		e, err := r.Decode()
		if err != nil {
			return nil, bus.Permanent(err)
		}
		events[i] = e
	}
	return events, nil
}

func (g *Gate) append(ctx context.Context, stream string, version int64, md event.Metadata, events []event.Event) error {
	proposed := make([]eventstore.Proposed, len(events))
	for i, e := range events {
		p, err := eventstore.NewProposed(e, md)
		if err != nil {
			return err
		}
		proposed[i] = p
	}
	if _, err := g.log.Append(ctx, stream, eventstore.Exact(version), proposed...); err != nil {
		return fmt.Errorf("append %d events to %s: %w", len(proposed), stream, err)
	}
	return nil
}

// Handler gives slots back when executions end and hands them on to the queue.
type Handler struct {
	gate   *Gate
	placer Placer
}

// NewHandler returns the release handler.
func NewHandler(g *Gate, p Placer) *Handler {
	if g == nil || p == nil {
		panic("admission: nil gate or placer") // wiring error
	}
	return &Handler{gate: g, placer: p}
}

// Register subscribes the release handler to the status changes of executions that end
// them, the only ones it acts on.
func Register(r *bus.Router, h *Handler) {
	r.AddStatusHandler(Name, Keys, h.Handle)
}

// Keys bind the handler's queue: the changes that end an execution.
var Keys = bus.StatusKeys(bus.Ends()...)

// Handle reacts to one ExecutionStatusChanged: when it is a terminal status, every policy on
// the execution's action gives back what the execution holds of it (a slot or a place in the
// queue: only if the queue stream says it holds one, so a redelivery appends nothing), then
// admits the waiting executions there is room for, in request order, and has the scheduler
// release each.
func (h *Handler) Handle(ctx context.Context, e eventstore.Recorded) error {
	payload, err := e.Decode()
	if err != nil {
		return bus.Permanent(err)
	}
	change, ok := payload.(*execution.ExecutionStatusChanged)
	if !ok || !change.To.Terminal() {
		return nil
	}
	g := h.gate
	if err := g.catalog.WaitFor(ctx, e.Position); err != nil {
		return err
	}
	if !g.catalog.AnyEnabledPolicy() {
		// No limit on any action, so none on this one (limits below would say the same):
		// nothing to release, and no need to read the stream to learn its action. Without
		// policies that was one stream read in three per plain execution.
		return nil
	}
	x, err := g.execution(ctx, change.ExecutionID)
	if err != nil {
		return err
	}
	limits, err := g.limits(ctx, x.Action(), e.Position)
	if err != nil || len(limits) == 0 {
		return err
	}
	md := e.Metadata.Caused(e.ID.String())
	var admitted []string
	// The read model is read as of this status change at least, so that an execution
	// requested earlier that ended meanwhile is seen ended.
	known := &earlier{action: x.Action(), request: e.Position}
	for _, l := range limits {
		key, err := l.Key(x.Parameters())
		if err != nil {
			return bus.Permanent(fmt.Errorf("release execution %s: %w", x.ID(), err))
		}
		ids, err := g.release(ctx, l, key, x.ID(), x.Status(), known, md)
		if err != nil {
			return fmt.Errorf("release execution %s under policy %s: %w", x.ID(), l.Ref, err)
		}
		admitted = append(admitted, ids...)
	}
	var errs []error
	for _, id := range admitted {
		if _, err := h.placer.Release(ctx, id); err != nil && !errors.Is(err, eventstore.ErrVersionConflict) {
			// The claim is on the queue stream: the reaper's pass finishes the release.
			errs = append(errs, fmt.Errorf("release execution %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// release gives id's slot or place back (if it holds one) and claims slots for the queue's
// heads, in one append; it returns the heads admitted. A head leaves its place to the
// executions requested before it that are still on their way (Config.Requests).
func (g *Gate) release(ctx context.Context, l policy.Limit, key, id string, status execution.Status, known *earlier, md event.Metadata) ([]string, error) {
	stream := policy.QueueStreamID(l.Ref, key)
	var ids []string
	loop := decide.Loop[*policy.Queue]{Log: g.log, Fold: foldQueue, Attempts: maxAttempts}
	res, err := loop.Run(ctx, stream, func(ctx context.Context, f decide.Folded[*policy.Queue]) (decide.Decision, error) {
		q := f.State
		var events []event.Event
		if q.Holds(id) {
			rel := policy.SlotReleased{Policy: l.Ref, PolicyType: l.Type, Key: key, ExecutionID: id, Status: status}
			events = append(events, rel)
			if err := q.Apply(rel); err != nil {
				return decide.Decision{}, err
			}
		}
		heads, err := g.heads(ctx, known, l, key, q, f.Last.Position)
		if err != nil {
			return decide.Decision{}, err
		}
		ids = make([]string, len(heads))
		for i, c := range heads {
			events = append(events, c)
			ids[i] = c.ExecutionID
		}
		return decide.Decision{Events: events, Metadata: md}, nil
	})
	if err != nil || !res.Appended {
		return nil, err
	}
	if len(ids) > 0 {
		g.logger.Debug("policy queue moved on", "policy", l.Ref, "key", key, "admitted", ids)
	}
	return slices.Clip(ids), nil
}

// foldQueue folds a policy's queue stream (policy.FoldQueue), for the shared path.
func foldQueue(_ string, recorded []eventstore.Recorded) (*policy.Queue, error) {
	events, err := decide.Decode(recorded)
	if err != nil {
		return nil, err
	}
	return policy.FoldQueue(events)
}
