package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// GroupName is the leadership lock of the projection group: one live group per schema.
const GroupName = "projections"

// Move is one projection's part of a group batch: apply its events and move its checkpoint
// from From to To, in the batch's transaction.
type Move struct {
	Name     string
	From, To eventstore.Position
	Apply    func(Tx) error
}

// GroupConfig builds a Group. The batch and retry settings are Config's, for every member.
type GroupConfig struct {
	// Name is the group's leadership lock; defaults to GroupName.
	Name        string
	Projections []Projection
	Store       eventstore.Store
	Target      Target
	Logger      *slog.Logger
	MaxBatch    int
	RetryDelay  time.Duration
	// MaxRetryDelay, EventAttempts and StallRetry apply to a member catching up alone.
	MaxRetryDelay time.Duration
	EventAttempts int
	StallRetry    time.Duration
}

// Group keeps several projections current with one reader: one cursor over the log, and for
// each batch one transaction (Target.UpdateGroup) that applies every member's rows and moves
// every member's checkpoint — compare-and-set from where that member stood to the batch's
// end, exactly as a Runner does alone, so a crash or a deposed leader never skips or doubles
// an event. One leadership lock covers the group.
//
// A member that cannot go with the group leaves it for a catch-up loop of its own (the
// Runner's: retries, then one event at a time, then a stall at exactly the event it cannot
// apply, retried every StallRetry), while the others keep advancing: a member whose part of
// a batch the read model refused (found in a second transaction with a savepoint per
// member), one paused by a rebuild or an audit, one whose checkpoint another writer moved.
// Its loop reads only up to the group's cursor; once it stands there it rejoins.
type Group struct {
	name       string
	members    []*Runner
	store      eventstore.Store
	target     Target
	log        *slog.Logger
	maxBatch   int
	retryDelay time.Duration
	maxDelay   time.Duration

	// mu is held while the group applies a batch, so that a member rejoins between batches,
	// never in the middle of one.
	mu     sync.Mutex
	cursor eventstore.Position            // the end of the group's last batch
	in     map[string]eventstore.Position // the members going with the group, at their checkpoints
}

// NewGroup validates cfg and returns a Group.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if len(cfg.Projections) == 0 {
		return nil, errors.New("projection group: no projections")
	}
	g := &Group{
		name: cmp.Or(cfg.Name, GroupName), store: cfg.Store, target: cfg.Target,
		log:        cmp.Or(cfg.Logger, slog.Default()),
		maxBatch:   cmp.Or(cfg.MaxBatch, 1000),
		retryDelay: cmp.Or(cfg.RetryDelay, time.Second),
		maxDelay:   cmp.Or(cfg.MaxRetryDelay, 5*time.Second),
	}
	g.log = g.log.With(slog.String("projection_group", g.name))
	seen := map[string]bool{}
	var errs []error
	for _, p := range cfg.Projections {
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("projection %q listed twice", p.Name))
		}
		seen[p.Name] = true
		r, err := New(Config{
			Projection: p, Store: cfg.Store, Target: cfg.Target, Logger: cfg.Logger, MaxBatch: cfg.MaxBatch,
			RetryDelay: cfg.RetryDelay, MaxRetryDelay: cfg.MaxRetryDelay, EventAttempts: cfg.EventAttempts, StallRetry: cfg.StallRetry,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.members = append(g.members, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("projection group %s: %w", g.name, err)
	}
	return g, nil
}

// Runners are the group's members, one per projection, for readiness and the metrics:
// each reports its own Applied, Leading and Stalled.
func (g *Group) Runners() []*Runner { return g.members }

// Run waits for the group's leadership, then follows the log until ctx ends (nil). A
// transient failure is retried as Runner.Run does: with a growing delay, capped.
func (g *Group) Run(ctx context.Context) error {
	delay := g.retryDelay
	for {
		before := g.Cursor()
		err := g.target.Lead(ctx, g.name, func(ctx context.Context, t Target) error {
			for _, m := range g.members {
				m.leading.Store(true)
			}
			defer func() {
				for _, m := range g.members {
					m.leading.Store(false)
				}
			}()
			return g.lead(ctx, t)
		})
		if ctx.Err() != nil {
			return nil
		}
		if g.Cursor() != before {
			delay = g.retryDelay
		}
		if err == nil {
			continue
		}
		g.log.Warn("projection group interrupted; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(2*delay, g.maxDelay)
	}
}

// Cursor is the position of the last batch the group read (Start before the first).
func (g *Group) Cursor() eventstore.Position {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cursor
}

// lead is one term of leadership: every member starts in the group, at its checkpoint; the
// group reads from the one furthest behind (the others skip what they have). The members
// sent off alone during the term end with it.
func (g *Group) lead(ctx context.Context, t Target) error {
	ctx, cancel := context.WithCancel(ctx)
	var alone sync.WaitGroup
	defer func() {
		cancel()
		alone.Wait()
	}()
	leave := func(m *Runner) { // called with g.mu held
		delete(g.in, m.p.Name)
		alone.Go(func() { g.alone(ctx, t, m) })
	}

	in := make(map[string]eventstore.Position, len(g.members))
	var from eventstore.Position
	for i, m := range g.members {
		cp, err := t.Checkpoint(ctx, m.p.Name)
		if err != nil {
			return err
		}
		m.setApplied(cp)
		in[m.p.Name] = cp
		if i == 0 || cp.Less(from) {
			from = cp
		}
	}
	g.mu.Lock()
	g.in, g.cursor = in, from
	g.mu.Unlock()
	g.log.Debug("projection group following", slog.String("position", from.String()))

	err := g.store.Subscribe(ctx, from, func(ctx context.Context, batch []eventstore.Recorded) error {
		for len(batch) > 0 {
			n := min(len(batch), g.maxBatch)
			if err := g.apply(ctx, t, batch[:n], leave); err != nil {
				return err
			}
			batch = batch[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("follow log from %s: %w", from, err)
	}
	return nil
}

// apply applies chunk to every member in the group, in one transaction. The first attempt
// runs every member's part straight in that transaction (the cheap, usual case); if the read
// model refuses one part, the whole transaction rolls back and a second one gives each member
// a savepoint, so that the members that can go on commit, and those that cannot leave the
// group. A transient failure returns: Run retries.
func (g *Group) apply(ctx context.Context, t Target, chunk []eventstore.Recorded, leave func(*Runner)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	to := chunk[len(chunk)-1].Position
	var moves []Move
	byName := map[string]*Runner{}
	for _, m := range g.members {
		cp, ok := g.in[m.p.Name]
		if !ok || !cp.Less(to) {
			continue // alone, or already past this chunk (it went further before the term)
		}
		events := chunk[sort.Search(len(chunk), func(i int) bool { return cp.Less(chunk[i].Position) }):]
		p := m.p
		moves = append(moves, Move{Name: p.Name, From: cp, To: to, Apply: func(tx Tx) error { return p.Apply(ctx, tx, events) }})
		byName[p.Name] = m
	}
	if len(moves) == 0 {
		g.cursor = to
		return nil
	}
	isolate := false
	for {
		skipped, failed, err := t.UpdateGroup(ctx, moves, isolate)
		if err != nil {
			if transient(ctx, err) || isolate {
				return fmt.Errorf("apply %d events after %s to %d projections: %w", len(chunk), g.cursor, len(moves), err)
			}
			g.log.Debug("a projection refused a batch; applying it again with a savepoint per projection",
				slog.String("after", g.cursor.String()), slog.Any("error", err))
			isolate = true
			continue
		}
		for _, mv := range moves {
			m := byName[mv.Name]
			switch ferr, refused := failed[mv.Name]; {
			case refused:
				m.log.Warn("projection left the group: it failed a batch the others applied; it catches up alone",
					slog.String("after", mv.From.String()), slog.Any("error", ferr))
				leave(m)
			case skipped[mv.Name]:
				m.log.Info("projection left the group: paused by a rebuild or an audit, or its checkpoint moved; it catches up alone",
					slog.String("after", mv.From.String()))
				leave(m)
			default:
				g.in[mv.Name] = to
				m.setApplied(to)
			}
		}
		g.cursor = to
		return nil
	}
}

// alone catches m up on its own until it reaches the group's cursor, then puts it back in
// the group. An event it cannot apply stalls it there (Runner.applyChunk), retried every
// StallRetry, while the group goes on without it.
func (g *Group) alone(ctx context.Context, t Target, m *Runner) {
	delay := g.retryDelay
	for {
		err := g.catchUp(ctx, t, m)
		if err == nil || ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrCheckpointMoved) {
			continue // start again from where the other writer left it
		}
		m.log.Warn("projection catching up alone: interrupted; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, g.maxDelay)
	}
}

func (g *Group) catchUp(ctx context.Context, t Target, m *Runner) error {
	cursor, err := t.Checkpoint(ctx, m.p.Name)
	if err != nil {
		return err
	}
	m.setApplied(cursor)
	for {
		g.mu.Lock()
		until := g.cursor
		if !cursor.Less(until) {
			g.in[m.p.Name] = cursor
			g.mu.Unlock()
			m.log.Info("projection rejoined the group", slog.String("position", cursor.String()))
			return nil
		}
		g.mu.Unlock()
		batch, err := g.store.ReadAll(ctx, cursor, g.maxBatch)
		if err != nil {
			return fmt.Errorf("read the log after %s: %w", cursor, err)
		}
		// Only up to the group's cursor: past it, the group applies the events.
		batch = batch[:sort.Search(len(batch), func(i int) bool { return until.Less(batch[i].Position) })]
		if len(batch) == 0 {
			// The group read these events, so they are visible; a store that does not
			// show them yet is waited for.
			if !sleep(ctx, g.retryDelay) {
				return ctx.Err()
			}
			continue
		}
		if err := m.applyChunk(ctx, t, &cursor, batch); err != nil {
			return err
		}
	}
}
