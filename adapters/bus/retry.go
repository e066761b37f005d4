package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/attune-go/attune/adapters/outage"
)

// errShutdown marks a failure that says nothing about the message: the router (or, in
// process, the publisher) is stopping. It wraps context.Canceled, so the poison queue lets it
// pass and the message goes back to its queue (nack) to be delivered again.
var errShutdown = fmt.Errorf("shutting down: %w", context.Canceled)

// kind is what a handler's failure means for its message. Errors are classified once, here.
type kind int

const (
	failed    kind = iota // counts toward the poison budget
	permanent             // poisoned at once
	transient             // a dependency is away: retried for as long as it lasts, never poisoned
	shutdown              // the message goes back to its queue
)

func (r *Router) classify(msg *message.Message, err error) kind {
	switch {
	case msg.Context().Err() != nil, r.isClosing():
		return shutdown
	case errors.Is(err, ErrPermanent):
		return permanent
	case r.bus.cfg.Transient != nil && r.bus.cfg.Transient(err):
		return transient
	}
	return failed
}

// retry is the innermost middleware: it runs the handler until it succeeds, backing off
// between attempts. A transient failure (the database away) is retried without counting,
// however long it lasts, so an outage never poisons a message; a shutdown returns at once so
// the message is nacked and delivered again; any other failure counts, and past MaxRetries
// it is returned for the poison queue.
func (r *Router) retry(h message.HandlerFunc) message.HandlerFunc {
	cfg := r.bus.cfg.Retry
	return func(msg *message.Message) ([]*message.Message, error) {
		wait := outage.Backoff{Min: cfg.InitialInterval, Max: cfg.MaxInterval, Multiplier: cfg.Multiplier}
		failures := 0
		for {
			out, err := h(msg)
			if err == nil {
				r.down.Recovered()
				return out, nil
			}
			switch r.classify(msg, err) {
			case shutdown:
				return nil, fmt.Errorf("%w: %w", errShutdown, err)
			case permanent:
				return nil, err
			case transient:
				r.down.Failed(err)
			case failed:
				handler, _, _ := strings.Cut(message.HandlerNameFromCtx(msg.Context()), "#") // not which consumer
				r.log.Warn("handler failed", "handler", handler,
					"event_id", msg.UUID, "event_type", msg.Metadata.Get(MetaType),
					"stream_id", msg.Metadata.Get(MetaStreamID), "attempt", failures+1, "error", err.Error())
				if failures++; failures > cfg.MaxRetries {
					return nil, err
				}
			}
			if !r.pause(msg.Context(), wait.Next()) {
				return nil, fmt.Errorf("%w: %w", errShutdown, err)
			}
		}
	}
}

// pause waits d, or less if the message's context ends or the router starts to close.
func (r *Router) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-r.closing:
		return false
	}
}

func (r *Router) isClosing() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}
