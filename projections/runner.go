package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
)

// Config builds a Runner.
type Config struct {
	Projection Projection
	Store      eventstore.Store // any adapter: the log is read in cursor order
	Target     Target           // the schema the read model lives in
	Logger     *slog.Logger     // defaults to slog.Default()
	// MaxBatch caps the events applied in one transaction; larger deliveries are split.
	// Defaults to 1000: big enough that the per-transaction cost fades, small enough that no
	// transaction stays open long.
	MaxBatch int
	// RetryDelay is the first pause after a failure; it doubles up to a minute. Default 1s.
	RetryDelay time.Duration
}

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Projection.Name == "" || c.Projection.Apply == nil {
		errs = append(errs, errors.New("projection: name and Apply required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("store required"))
	}
	if c.Target == nil {
		errs = append(errs, errors.New("target required"))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("max batch %d: want > 0", c.MaxBatch))
	}
	return errors.Join(errs...)
}

// Runner keeps one projection current: it becomes the projection's single live instance,
// then applies the log batch by batch from its checkpoint, forever.
type Runner struct {
	p          Projection
	store      eventstore.Store
	target     Target
	log        *slog.Logger
	maxBatch   int
	retryDelay time.Duration

	leading atomic.Bool
	mu      sync.Mutex
	applied eventstore.Position
}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("projection runner %q: %w", cfg.Projection.Name, err)
	}
	return &Runner{
		p:          cfg.Projection,
		store:      cfg.Store,
		target:     cfg.Target,
		log:        cmp.Or(cfg.Logger, slog.Default()).With(slog.String("projection", cfg.Projection.Name)),
		maxBatch:   cmp.Or(cfg.MaxBatch, 1000),
		retryDelay: cmp.Or(cfg.RetryDelay, time.Second),
	}, nil
}

// Name is the projection's persisted name.
func (r *Runner) Name() string { return r.p.Name }

// Applied is the position of the last event applied (Start before the first): readiness
// compares it with the head of the log.
func (r *Runner) Applied() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// Leading reports whether this runner is the projection's live instance right now; a
// standby waits on the lock and reports false.
func (r *Runner) Leading() bool { return r.leading.Load() }

func (r *Runner) setApplied(p eventstore.Position) {
	r.mu.Lock()
	r.applied = p
	r.mu.Unlock()
}

// Run waits for leadership, then follows the log until ctx ends (nil). Failures — the
// database going away, an event the projection cannot apply — are logged and retried with
// a growing delay, because a projection that gives up leaves its read model silently stale;
// Applied shows the lag meanwhile.
func (r *Runner) Run(ctx context.Context) error {
	delay := r.retryDelay
	for {
		before := r.Applied()
		err := r.target.Lead(ctx, r.p.Name, func(ctx context.Context, t Target) error {
			r.leading.Store(true)
			defer r.leading.Store(false)
			return r.follow(ctx, t)
		})
		if ctx.Err() != nil {
			return nil
		}
		if r.Applied() != before {
			delay = r.retryDelay // it made progress: this is a new failure, not the same one again
		}
		if err == nil {
			continue // follow ended without a failure (it should not): start over at once
		}
		r.log.Error("projection stopped; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

// follow subscribes from the stored checkpoint and applies every batch. When a batch finds
// the checkpoint moved (a rebuild ran meanwhile), it starts over from where the checkpoint is.
func (r *Runner) follow(ctx context.Context, t Target) error {
	for {
		from, err := t.Checkpoint(ctx, r.p.Name)
		if err != nil {
			return err
		}
		r.setApplied(from)
		r.log.Debug("projection following", slog.String("position", from.String()))
		cursor := from
		err = r.store.Subscribe(ctx, from, func(ctx context.Context, batch []eventstore.Recorded) error {
			next, err := apply(ctx, t, r.p, cursor, batch, r.maxBatch, r.setApplied)
			cursor = next
			return err
		})
		if errors.Is(err, ErrCheckpointMoved) {
			r.log.Info("projection checkpoint moved by another writer; resuming from it", slog.String("cursor", cursor.String()))
			continue
		}
		if err != nil {
			return fmt.Errorf("follow log from %s: %w", from, err)
		}
		return nil
	}
}

// apply applies batch in transactions of at most maxBatch events, starting at cursor, and
// returns the new cursor.
func apply(ctx context.Context, t Target, p Projection, cursor eventstore.Position, batch []eventstore.Recorded, maxBatch int, done func(eventstore.Position)) (eventstore.Position, error) {
	for len(batch) > 0 {
		n := min(len(batch), maxBatch)
		chunk := batch[:n]
		batch = batch[n:]
		to := chunk[n-1].Position
		err := t.Update(ctx, p.Name, cursor, to, func(tx Tx) error { return p.Apply(ctx, tx, chunk) })
		if err != nil {
			return cursor, fmt.Errorf("apply %d events after %s to %s: %w", n, cursor, p.Name, err)
		}
		cursor = to
		if done != nil {
			done(to)
		}
	}
	return cursor, nil
}

// CatchUp applies the log from the projection's checkpoint up to until (inclusive; the zero
// Position means the head as it is now) and returns where it stopped. It takes no lock: it
// serves Rebuild and Replay, which hold their own.
func CatchUp(ctx context.Context, store eventstore.Store, t Target, p Projection, until eventstore.Position) (eventstore.Position, error) {
	const page = 1000
	cursor, err := t.Checkpoint(ctx, p.Name)
	if err != nil {
		return eventstore.Start, err
	}
	bounded := until != eventstore.Start
	if bounded && until.Less(cursor) {
		return cursor, fmt.Errorf("catch up %s to %s: already at %s", p.Name, until, cursor)
	}
	for {
		batch, err := store.ReadAll(ctx, cursor, page)
		if err != nil {
			return cursor, fmt.Errorf("catch up %s: %w", p.Name, err)
		}
		// A short page does not prove the head (a store may hold back events that are not yet
		// safe to read), so only an empty page or the bound ends the loop.
		done := len(batch) == 0
		if bounded {
			for i, e := range batch {
				if until.Less(e.Position) {
					batch, done = batch[:i], true
					break
				}
			}
		}
		if len(batch) > 0 {
			if cursor, err = apply(ctx, t, p, cursor, batch, page, nil); err != nil {
				return cursor, err
			}
		}
		if done {
			return cursor, nil
		}
	}
}
