package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/outage"
)

// Guard is Hold for the life of a process: it takes the named lock at once (or fails with
// ErrHeld), then watches the session that holds it. A session advisory lock dies with its
// session, so when the database restarts the lock is gone: Guard takes it again as soon as
// the database answers. If another process took it meanwhile, Guard logs an error naming the
// situation and keeps trying, so the guard is whole again once that process stops. release
// stops the watch and frees the lock.
func Guard(ctx context.Context, pool *pgxpool.Pool, name string, log *slog.Logger) (release func(), err error) {
	conn, err := tryLock(ctx, pool, name)
	if err != nil {
		return nil, err
	}
	g := &guard{pool: pool, name: name, log: log.With("lock", name), conn: conn}
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.keep(watchCtx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			g.close()
		})
	}, nil
}

type guard struct {
	pool *pgxpool.Pool
	name string
	log  *slog.Logger

	mu   sync.Mutex
	conn *pgx.Conn // nil while the lock is not held
}

// keep pings the lock's session; once it is lost, it retakes the lock until ctx ends.
func (g *guard) keep(ctx context.Context) {
	t := time.NewTicker(leaderPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, leaderPing)
		err := g.held().Ping(pingCtx)
		cancel()
		if err == nil || ctx.Err() != nil {
			continue
		}
		g.log.Warn("single-process guard lost with its database session; taking it again when the database answers", "error", err.Error())
		g.close()
		if !g.retake(ctx) {
			return
		}
	}
}

// retake takes the lock again, waiting out the database's outage and another holder.
func (g *guard) retake(ctx context.Context) bool {
	wait := outage.Backoff{}
	toldHeld := false
	for {
		conn, err := tryLock(ctx, g.pool, g.name)
		switch {
		case err == nil:
			g.mu.Lock()
			g.conn = conn
			g.mu.Unlock()
			g.log.Info("single-process guard taken again")
			return true
		case errors.Is(err, ErrHeld) && !toldHeld:
			toldHeld = true
			g.log.Error("another process took the single-process guard while the database was away: two processes that must be alone run on this database; stop one of them", "error", err.Error())
		}
		if !wait.Wait(ctx) {
			return false
		}
	}
}

func (g *guard) held() *pgx.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conn
}

func (g *guard) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = g.conn.Close(ctx)
		g.conn = nil
	}
}

// tryLock returns a connection, out of the pool, whose session holds the lock, or ErrHeld.
func tryLock(ctx context.Context, pool *pgxpool.Pool, name string) (*pgx.Conn, error) {
	conn, err := lockSession(ctx, pool, "lock:"+name)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, tryLockSQL, name).Scan(&ok); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lock %s: %w", name, ErrHeld)
	}
	return conn, nil
}
