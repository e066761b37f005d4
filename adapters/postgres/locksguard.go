package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/attune-go/attune/adapters/outage"
)

// Guard is postgres.Guard on the process's lock session instead of a session of its own (one
// connection fewer for `attune serve`): it takes the named lock at once or fails with
// ErrHeld, and holds it until release. When the session dies (a database restart), every lock
// on it goes; Guard takes its lock again once the database answers, and says so loudly if
// another process took it meanwhile — the one thing the guard exists to prevent.
func (l *Locks) Guard(ctx context.Context, name string, log *slog.Logger) (release func(), err error) {
	ok, lost, err := l.try(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", name, ErrHeld)
	}
	log = log.With("lock", name)
	var mu sync.Mutex // guards held: the session the lock is on now
	held := lost
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-held:
			}
			log.Warn("single-process guard lost with its database session; taking it again when the database answers")
			again, ok := l.retake(watchCtx, name, log)
			if !ok {
				return
			}
			mu.Lock()
			held = again
			mu.Unlock()
			log.Info("single-process guard taken again")
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			l.release(context.Background(), name, held)
		})
	}, nil
}

// retake takes name again, waiting out the database's outage and another holder; it returns
// the channel that closes when the new session is lost.
func (l *Locks) retake(ctx context.Context, name string, log *slog.Logger) (<-chan struct{}, bool) {
	wait := outage.Backoff{}
	toldHeld := false
	for {
		ok, lost, err := l.try(ctx, name)
		switch {
		case err == nil && ok:
			return lost, true
		case err == nil && !toldHeld:
			toldHeld = true
			log.Error("another process took the single-process guard while the database was away: two processes that must be alone run on this database; stop one of them",
				"error", fmt.Errorf("lock %s: %w", name, ErrHeld).Error())
		case err != nil && errors.Is(err, context.Canceled):
			return nil, false
		}
		if !wait.Wait(ctx) {
			return nil, false
		}
	}
}
