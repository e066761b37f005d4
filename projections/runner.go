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
	// RetryDelay is the first pause after a failure; it doubles up to MaxRetryDelay. Default 1s.
	RetryDelay time.Duration
	// MaxRetryDelay caps the pause between retries of a transient failure (the database
	// away), so the runner resumes within that long of its return. Default 5s.
	MaxRetryDelay time.Duration
	// EventAttempts is how many times a batch the read model refuses is tried whole before
	// the runner looks for the event at fault, applying the batch one event at a time.
	// Default 3.
	EventAttempts int
	// StallRetry is how often a stalled projection retries the event it stopped at, so that a
	// fixed database resumes it on its own. Default 30s.
	StallRetry time.Duration
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
	if c.RetryDelay < 0 || c.MaxRetryDelay < 0 || c.StallRetry < 0 || c.EventAttempts < 0 {
		errs = append(errs, errors.New("retry delays and attempts: want > 0 (0: default)"))
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
	maxDelay   time.Duration
	attempts   int
	stallRetry time.Duration

	leading atomic.Bool
	mu      sync.Mutex
	applied eventstore.Position
	stalled *StallError
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
		maxDelay:   cmp.Or(cfg.MaxRetryDelay, 5*time.Second),
		attempts:   cmp.Or(cfg.EventAttempts, 3),
		stallRetry: cmp.Or(cfg.StallRetry, 30*time.Second),
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

// Stalled returns the stall the projection is in (the event it cannot apply, and why), or
// nil while it applies the log. Readiness and the metrics report it.
func (r *Runner) Stalled() *StallError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalled
}

// setApplied records progress; an event applied at or past the stalled one ends the stall.
func (r *Runner) setApplied(p eventstore.Position) {
	r.mu.Lock()
	r.applied = p
	resumed := r.stalled
	if resumed != nil && !p.Less(resumed.Position) {
		r.stalled = nil
	} else {
		resumed = nil
	}
	r.mu.Unlock()
	if resumed != nil {
		r.log.Info("projection resumed: the event it stalled at is applied",
			slog.String("position", resumed.Position.String()), slog.Duration("stalled_for", time.Since(resumed.Since)))
	}
}

// stall records that the projection stopped at e, logging it once per event.
func (r *Runner) stall(e eventstore.Recorded, err error) {
	r.mu.Lock()
	already := r.stalled != nil && r.stalled.Position == e.Position
	if !already {
		r.stalled = stallAt(r.p.Name, e, err, time.Now())
	}
	r.mu.Unlock()
	if already {
		r.log.Debug("projection still stalled", slog.String("position", e.Position.String()), slog.Any("error", err))
		return
	}
	r.log.Error("projection stalled: it cannot apply an event; it retries it every "+r.stallRetry.String()+
		" and applies nothing after it until then",
		slog.String("position", e.Position.String()), slog.String("stream", e.StreamID),
		slog.Int64("stream_version", e.StreamVersion), slog.String("type", e.Type),
		slog.String("event_id", e.ID.String()), slog.Any("error", err))
}

// Run waits for leadership, then follows the log until ctx ends (nil). A transient failure
// (the database going away) is retried with a growing delay, capped so the runner resumes
// soon after the database returns; Applied shows the lag meanwhile. An event the read model
// refuses stalls the projection loudly (see applyChunk): a projection that gives up, or
// retries in silence, leaves its read model stale with nobody told.
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
		r.log.Warn("projection interrupted; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(2*delay, r.maxDelay)
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
			for len(batch) > 0 {
				n := min(len(batch), r.maxBatch)
				if err := r.applyChunk(ctx, t, &cursor, batch[:n]); err != nil {
					return err
				}
				batch = batch[n:]
			}
			return nil
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

// applyChunk applies chunk in one transaction from *cursor and advances it. A transient
// failure returns at once (Run retries). A failure of the events themselves — anything but a
// transient one, so that an error nobody foresaw is loud too — is retried whole a few times;
// then the chunk is applied one event at a time, so every event before the one at fault is
// applied, and the projection stalls at that one, retrying it every stallRetry until it
// applies (a fixed database) or ctx ends.
func (r *Runner) applyChunk(ctx context.Context, t Target, cursor *eventstore.Position, chunk []eventstore.Recorded) error {
	update := func(events []eventstore.Recorded) error {
		to := events[len(events)-1].Position
		err := t.Update(ctx, r.p.Name, *cursor, to, func(tx Tx) error { return r.p.Apply(ctx, tx, events) })
		if err != nil {
			return fmt.Errorf("apply %d events after %s to %s: %w", len(events), *cursor, r.p.Name, err)
		}
		*cursor = to
		r.setApplied(to)
		return nil
	}
	delay := r.retryDelay
	for attempt := 1; ; attempt++ {
		err := update(chunk)
		if err == nil || transient(ctx, err) {
			return err
		}
		if attempt >= r.attempts {
			r.log.Warn("a batch failed "+fmt.Sprint(attempt)+" times; applying it one event at a time to find the event at fault",
				slog.Int("events", len(chunk)), slog.String("after", cursor.String()), slog.Any("error", err))
			break
		}
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		delay = min(2*delay, r.maxDelay)
	}
	for i := range chunk {
		for {
			err := update(chunk[i : i+1])
			if err == nil {
				break
			}
			if transient(ctx, err) {
				return err
			}
			r.stall(chunk[i], err)
			if !sleep(ctx, r.stallRetry) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// transient tells a failure that passes by itself from one caused by the events.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCheckpointMoved) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// apply applies batch in transactions of at most maxBatch events, starting at cursor, and
// returns the new cursor. When a transaction fails for anything but a transient reason, its
// events are applied one at a time up to the one at fault, which the error names: a
// *StallError (the cursor is then just before it).
func apply(ctx context.Context, t Target, p Projection, cursor eventstore.Position, batch []eventstore.Recorded, maxBatch int, done func(eventstore.Position)) (eventstore.Position, error) {
	for len(batch) > 0 {
		n := min(len(batch), maxBatch)
		chunk := batch[:n]
		batch = batch[n:]
		to := chunk[n-1].Position
		err := t.Update(ctx, p.Name, cursor, to, func(tx Tx) error { return p.Apply(ctx, tx, chunk) })
		if err != nil && !transient(ctx, err) {
			if n == 1 {
				return cursor, stallAt(p.Name, chunk[0], err, time.Now())
			}
			c, err := apply(ctx, t, p, cursor, chunk, 1, done)
			if err != nil {
				return c, err
			}
			cursor = c
			continue
		}
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
