// Package relay publishes the log to the bus. The events table is the outbox: the relay reads
// it in cursor order from its checkpoint, publishes each event to the topic of its type, and
// moves the checkpoint only once the bus has confirmed the publish. A crash between the two
// republishes a batch (handlers are idempotent); nothing is ever skipped.
//
// Run one relay per database: wrap Run in postgres.Lead(ctx, pool, relay.Name, r.Run).
package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/outage"
)

// Name is the relay's persisted identifier: its checkpoint and its leader lock.
const Name = "relay"

// Publisher sends events and returns once the bus has confirmed them all, in the order given
// for the events of one stream. An error means some may not have been delivered.
type Publisher interface {
	Publish(ctx context.Context, events ...eventstore.Recorded) error
}

// Config configures a Relay.
type Config struct {
	Store       eventstore.Store
	Checkpoints checkpoint.Store
	Publisher   Publisher
	Logger      *slog.Logger
	// Name keys the checkpoint; defaults to Name.
	Name string
	// Lanes is how many publishes are in flight at once; defaults to 8 (the bus's channel
	// pool). Events of one stream share a lane, so they are published in order.
	Lanes int
	// MinBackoff and MaxBackoff bound the wait between retries of a failed publish or
	// checkpoint (with jitter); default 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

// Validate reports every missing dependency or invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("no event store"))
	}
	if c.Checkpoints == nil {
		errs = append(errs, errors.New("no checkpoint store"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("no publisher"))
	}
	if c.Lanes < 0 {
		errs = append(errs, fmt.Errorf("lanes %d, want >= 0", c.Lanes))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 || (c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff) {
		errs = append(errs, fmt.Errorf("backoff %s..%s, want 0 <= min <= max", c.MinBackoff, c.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Relay copies the log to the bus.
type Relay struct {
	cfg  Config
	log  *slog.Logger
	down *outage.Log // the bus or the database away: logged once, not per retry
}

// New returns a relay; it does nothing until Run.
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	cfg.Name = cmp.Or(cfg.Name, Name)
	cfg.Lanes = cmp.Or(cfg.Lanes, 8)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, 100*time.Millisecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, outage.MaxWait)
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	log = log.With("relay", cfg.Name)
	return &Relay{cfg: cfg, log: log, down: outage.NewLog(log, "relay")}, nil
}

// Run relays until ctx ends, then returns nil. It never gives up and never skips: a failing
// store, bus or checkpoint is retried with backoff, and the next attempt resumes from the
// last saved checkpoint.
func (r *Relay) Run(ctx context.Context) error {
	b := r.backoff()
	for {
		err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.down.Failed(fmt.Errorf("resuming from the checkpoint: %w", err))
		if !sleep(ctx, b.Next()) {
			return nil
		}
	}
}

// follow subscribes from the checkpoint and relays batch by batch until ctx ends or a step
// fails for a reason other than the bus (which is retried in place).
func (r *Relay) follow(ctx context.Context) error {
	from, err := r.cfg.Checkpoints.Load(ctx, r.cfg.Name)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	r.log.Info("relay following the log", "from", from.String())
	return r.cfg.Store.Subscribe(ctx, from, func(ctx context.Context, batch []eventstore.Recorded) error {
		if err := r.publish(ctx, batch); err != nil {
			return err
		}
		last := batch[len(batch)-1].Position
		if err := r.retry(ctx, "save checkpoint", func() error { return r.cfg.Checkpoints.Save(ctx, r.cfg.Name, last) }); err != nil {
			return err
		}
		r.log.Debug("relayed batch", "events", len(batch), "checkpoint", last.String())
		return nil
	})
}

// publish sends the batch over the lanes and returns when every event is confirmed, or
// with ctx's error. Each lane's events go in one Publish, so a bus that can send ahead
// (RabbitMQ: every message, then the confirms) pays one round trip per lane, not per event;
// a failed Publish is retried whole (what it had delivered is delivered again: handlers are
// idempotent).
func (r *Relay) publish(ctx context.Context, batch []eventstore.Recorded) error {
	lanes := make([][]eventstore.Recorded, min(r.cfg.Lanes, len(batch)))
	for _, e := range batch {
		i := lane(e.StreamID, len(lanes))
		lanes[i] = append(lanes[i], e)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(lanes))
	for i, events := range lanes {
		wg.Go(func() {
			errs[i] = r.retry(ctx, "publish", func() error { return r.cfg.Publisher.Publish(ctx, events...) })
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func lane(stream string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(stream))
	return int(h.Sum32() % uint32(n))
}

// retry runs op until it succeeds or ctx ends, backing off between failures.
func (r *Relay) retry(ctx context.Context, what string, op func() error) error {
	b := r.backoff()
	for {
		err := op()
		if err == nil {
			r.down.Recovered()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.down.Failed(fmt.Errorf("%s: %w", what, err))
		if !sleep(ctx, b.Next()) {
			return ctx.Err()
		}
	}
}

func (r *Relay) backoff() *outage.Backoff {
	return &outage.Backoff{Min: r.cfg.MinBackoff, Max: r.cfg.MaxBackoff}
}

// sleep waits d or until ctx ends, reporting whether the full wait elapsed.
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
