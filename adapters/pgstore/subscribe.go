package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/outage"
)

// When rows exist that are not visible yet, a subscriber re-reads after firstRecheck, doubling
// up to maxRecheck (or PollInterval if shorter). Such rows wait on an older transaction, which
// may write no events and so send no notification when it ends; it is usually about to.
const (
	firstRecheck = time.Millisecond
	maxRecheck   = 100 * time.Millisecond
)

// Subscribe implements eventstore.Store: it catches up in batches of Config.BatchSize, then
// waits for a notification (or the poll interval) before reading again.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, fn func(context.Context, []eventstore.Recorded) error) error {
	leave := s.notifier.join()
	defer leave()

	cursor := after
	recheck := firstRecheck
	// A subscriber outlives database outages: it reports the first failure and the
	// recovery, waits, and reads again, however long the outage lasts.
	down := outage.NewLog(s.cfg.Logger, "subscriber: read the log")
	for ctx.Err() == nil {
		wake := s.notifier.changed()
		batch, err := s.ReadAll(ctx, cursor, s.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			down.Failed(fmt.Errorf("read after %s: %w", cursor, err))
			wait(ctx, nil, min(s.cfg.PollInterval, outage.MaxWait))
			continue
		}
		down.Recovered()
		if len(batch) > 0 {
			if err := fn(ctx, batch); err != nil {
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return nil
				}
				return fmt.Errorf("subscriber after %s: %w", cursor, err)
			}
			cursor = batch[len(batch)-1].Position
			recheck = firstRecheck
			if len(batch) == s.cfg.BatchSize {
				continue // more is probably waiting
			}
		}
		pending, err := s.pendingAfter(ctx, cursor)
		if err != nil && ctx.Err() == nil {
			down.Failed(fmt.Errorf("check for pending events after %s: %w", cursor, err))
		}
		if pending {
			wait(ctx, wake, min(recheck, maxRecheck, s.cfg.PollInterval))
			recheck = min(2*recheck, maxRecheck)
			continue
		}
		recheck = firstRecheck
		wait(ctx, wake, s.cfg.PollInterval)
	}
	return nil
}

// wait returns when ctx ends, wake closes, or d passes.
func wait(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}
