package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/projections"
)

// DefaultReadyMaxLag is how far behind the log the relay or a projection may fall before
// /readyz answers 503.
const DefaultReadyMaxLag = 30 * time.Second

// readyCheck is one named condition of /readyz: check returns nil while it holds, else why
// not. Adding a check is adding one entry to readyChecks.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// readyChecks lists what must hold for this server to be ready.
func (s *Server) readyChecks() []readyCheck {
	checks := []readyCheck{
		{"roles", func(context.Context) error {
			if !s.ready.Load() {
				return errors.New("starting")
			}
			return nil
		}},
		{"database", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if err := s.cfg.Pool.Ping(ctx); err != nil {
				return fmt.Errorf("unreachable: %w", err)
			}
			return nil
		}},
		{"bus", func(context.Context) error {
			if !s.bus.Connected() {
				return errors.New("RabbitMQ connection down; reconnecting")
			}
			return nil
		}},
		{"relay", s.lagCheck(func(ctx context.Context) (eventstore.Position, error) {
			return s.checkpoints.Load(ctx, relay.Name)
		})},
	}
	for _, p := range projections.All() {
		lag := s.lagCheck(func(ctx context.Context) (eventstore.Position, error) {
			return s.models.Checkpoint(ctx, p.Name)
		})
		checks = append(checks, readyCheck{p.Name, func(ctx context.Context) error {
			// A stalled projection serves a stale read model until someone acts: say so by
			// name and why, before how far behind it is.
			for _, r := range s.runners {
				if st := r.Stalled(); r.Name() == p.Name && st != nil {
					return fmt.Errorf("stalled: %w", st)
				}
			}
			return lag(ctx)
		}})
	}
	return checks
}

// lagCheck fails when the oldest event past a reader's checkpoint is older than the allowed
// lag, visible yet or not: a long transaction elsewhere on the server shows as lag.
func (s *Server) lagCheck(checkpoint func(context.Context) (eventstore.Position, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		from, err := checkpoint(ctx)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		at, found, err := s.raw.FirstAfter(ctx, from)
		if err != nil {
			return err
		}
		if lag := time.Since(at); found && lag > s.maxLag {
			return fmt.Errorf("behind the log by %s (more than %s) at %s", lag.Round(time.Second), s.maxLag, from)
		}
		return nil
	}
}

// readiness runs every check; ready only when all hold. Each check is reported by name,
// "ok" or why not, so an operator sees what is down or lagging.
func (s *Server) readiness(ctx context.Context) (bool, map[string]string) {
	checks := s.readyChecks()
	results := make(map[string]string, len(checks))
	ok := true
	for _, c := range checks {
		if err := c.check(ctx); err != nil {
			results[c.name], ok = err.Error(), false
			continue
		}
		results[c.name] = "ok"
	}
	return ok, results
}
