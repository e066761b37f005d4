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
	return l.GuardAlone(ctx, name, log, nil)
}

// ErrSuperseded is the cause GuardAlone reports when another process holds the guard after
// this process's session was lost: two processes that must be alone ran at once.
var ErrSuperseded = errors.New("another process took the single-process guard while this one's database session was gone")

// GuardAlone is Guard that also calls superseded (once, if not nil) when, after its session
// is lost, the lock is found held by another process's backend — not by this process's own
// old backend, which the server may not have noticed is gone yet. The caller is expected to
// stop: both processes running is what the guard exists to prevent, and the other one holds
// the lock. The guard itself keeps trying to take the lock back until release.
func (l *Locks) GuardAlone(ctx context.Context, name string, log *slog.Logger, superseded func(error)) (release func(), err error) {
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
	own := l.sessionPID() // the backend holding the lock: this process's
	var tell sync.Once
	onOther := func(pid int) {
		tell.Do(func() {
			if superseded != nil {
				superseded(fmt.Errorf("lock %s: %w (backend %d holds it)", name, ErrSuperseded, pid))
			}
		})
	}
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
			again, ok := l.retake(watchCtx, name, log, own, onOther)
			if !ok {
				return
			}
			own = l.sessionPID()
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
// the channel that closes when the new session is lost. own is the backend of the session
// that held the lock until it was lost: found still holding it, it is this process's.
func (l *Locks) retake(ctx context.Context, name string, log *slog.Logger, own uint32, other func(pid int)) (<-chan struct{}, bool) {
	wait := outage.Backoff{}
	toldHeld := false
	for {
		ok, lost, err := l.try(ctx, name)
		if err == nil && !ok {
			// Held: by this process's old backend (the server has not noticed its death yet:
			// wait for it) or by another process.
			pid, herr := l.holder(ctx, name)
			switch {
			case herr != nil || pid == 0:
			case uint32(pid) == own:
				log.Warn("the single-process guard is still held by this process's old database session; waiting for the server to end it", "backend", pid)
			case !toldHeld:
				toldHeld = true
				log.Error("another process took the single-process guard while the database was away: two processes that must be alone run on this database; stop one of them",
					"error", fmt.Errorf("lock %s: %w", name, ErrHeld).Error(), "backend", pid)
				other(pid)
			}
		}
		switch {
		case err == nil && ok:
			return lost, true
		case err != nil && errors.Is(err, context.Canceled):
			return nil, false
		}
		if !wait.Wait(ctx) {
			return nil, false
		}
	}
}

// sessionPID is the backend of the lock session now open (0 when none is).
func (l *Locks) sessionPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return 0
	}
	return l.pid
}
